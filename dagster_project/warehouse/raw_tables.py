"""The landing tables in `flows_raw`: one definition per table gives its DDL and its COPY.

Loads are idempotent by replacing a window: in one transaction, delete the rows of that window
(a sync id, a day of records for the meters read, the whole registry) and COPY the new rows
straight into place, with no staging table and ON CONFLICT merge after; and a load cut off
midway commits nothing. Into a small table that is about the speed of a bare binary COPY; a
day of profile log into a month partition of a large fleet runs at about a quarter of it (at
100,000 meters: the (meter_id, record_timestamp) key most, then the window's delete and the
COPY into the partition; benchmarks/energy.py), the price of one row per meter per instant
whatever loads overlap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import psycopg
from psycopg import sql

from dagster_project.warehouse import partitions

RAW_SCHEMA = "flows_raw"


@dataclass(frozen=True)
class Column:
    name: str
    #: A PostgreSQL type name that psycopg's binary COPY knows (int8, numeric, jsonb, ...).
    type: str
    nullable: bool = True


@dataclass(frozen=True)
class RawTable:
    name: str
    columns: tuple[Column, ...]
    #: Extra DDL inside the CREATE TABLE parentheses (keys, checks), written as SQL.
    constraints: tuple[str, ...] = ()
    #: The timestamptz column a time-series table is range partitioned on, by month
    #: (warehouse/partitions.py); its primary key must include it.
    partition_by: str | None = None

    @property
    def identifier(self) -> sql.Identifier:
        return sql.Identifier(RAW_SCHEMA, self.name)

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def row(self, values: Mapping[str, Any]) -> tuple[Any, ...]:
        """A row in the table's column order from named values; a column not named is null.
        A name the table lacks is a programming error, raised rather than dropped."""
        unknown = values.keys() - set(self.column_names)
        if unknown:
            raise KeyError(f"{self.name} has no column {', '.join(sorted(unknown))}")
        return tuple(values.get(name) for name in self.column_names)

    def create_statement(self) -> sql.Composed:
        parts = [
            sql.SQL("{} {}{}").format(
                sql.Identifier(column.name),
                sql.SQL(column.type),
                sql.SQL("" if column.nullable else " not null"),
            )
            for column in self.columns
        ]
        parts += [sql.SQL(constraint) for constraint in self.constraints]
        statement = sql.SQL("create table if not exists {} ({})").format(
            self.identifier, sql.SQL(", ").join(parts)
        )
        if self.partition_by is None:
            return statement
        return statement + sql.SQL(" partition by range ({})").format(
            sql.Identifier(self.partition_by)
        )

    def copy_statement(self) -> sql.Composed:
        return sql.SQL("copy {} ({}) from stdin (format binary)").format(
            self.identifier, sql.SQL(", ").join(map(sql.Identifier, self.column_names))
        )


def _columns(*specs: str) -> tuple[Column, ...]:
    """Columns from 'name type' strings; a trailing '!' marks NOT NULL."""
    out = []
    for spec in specs:
        name, type_ = spec.split(" ", 1)
        required = type_.endswith("!")
        out.append(Column(name, type_.rstrip("!"), nullable=not required))
    return tuple(out)


METER_REGISTRY = RawTable(
    "meter_registry",
    _columns(
        "id uuid!",
        "serial text!",
        "name text!",
        "ip_address inet!",
        "port int4!",
        "hardware text",
        "mode text!",
        "esco uuid!",
        # Null: the registry file left the flag empty; the sync reads it from the meter.
        "single_meter_app bool",
        "daylight_savings_correction_enabled bool",
        "prepay_enabled bool",
        # Added after the first release: nullable so that older databases can gain it.
        "direction_reversed bool",
        "installation_status text",
        # Why the sync does not contact the meter (registry.not_polled_reason); null: it does.
        "not_polled_reason text",
        "source_file text!",
        "source_row int4!",
        "loaded_at timestamptz!",
    ),
    (
        "primary key (id)",
        "unique (serial)",
        "check (port between 1 and 65535)",
        "check (mode in ('active', 'passive'))",
        "check (installation_status in ('enabled', 'disabled', 'deleted'))",
    ),
)

METER_REGISTRY_REJECTS = RawTable(
    "meter_registry_rejects",
    _columns(
        "source_file text!",
        "row_number int4!",
        "field text!",
        "value text",
        "reason text!",
        "serial text",
        "loaded_at timestamptz!",
    ),
)

#: An operator's word that a meter's identity mismatch is dealt with (the registry corrected, or
#: the device checked): mismatches seen before it no longer block writes to the meter.
METER_IDENTITY_RESOLUTIONS = RawTable(
    "meter_identity_resolutions",
    _columns(
        "meter_id uuid!",
        "serial text!",
        "resolved_at timestamptz!",
        "resolved_by text!",
        "note text",
    ),
    ("primary key (meter_id, resolved_at)",),
)

METER_SYNCS = RawTable(
    "meter_syncs",
    _columns(
        "sync_id uuid!",
        "started_at timestamptz!",
        "finished_at timestamptz!",
        "meters_ok int4!",
        "meters_failed int4!",
        "meters_skipped int4!",
        "run_id text",
        "bucket text",
    ),
    ("primary key (sync_id)",),
)

METER_SYNC_SNAPSHOTS = RawTable(
    "meter_sync_snapshots",
    _columns(
        "sync_id uuid!",
        "meter_id uuid!",
        "serial text!",
        "polled_at timestamptz!",
        "finished_at timestamptz",
        "outcome text!",
        "error_class text",
        "error_message text",
        "object_errors jsonb",
        # The values whose every object was read (fleet_sync.VALUE_OBJECTS): a partial read
        # lands what it got, and a future tariff read as "nothing scheduled" is told from one
        # that was not read at all.
        "values_read jsonb",
        "balance numeric",
        "emergency_credit numeric",
        "clock_time_diff_seconds int4",
        "meter_clock timestamptz",
        "csq int2",
        "csq_operator int2",
        "voltage numeric",
        "import_a int8",
        "export_a int8",
        "reactive_import_a int8",
        "reactive_export_a int8",
        "import_b int8",
        "export_b int8",
        "reactive_import_b int8",
        "reactive_export_b int8",
        "firmware text",
        "hardware text",
        "prepay_enabled bool",
        "dst_enabled bool",
        "tariffs_active jsonb",
        "tariffs_future jsonb",
    ),
    (
        # polled_at is in the key because partitions need it; a sync still has one row per
        # meter (the loader replaces a sync whole, and the structure check verifies it).
        "primary key (sync_id, meter_id, polled_at)",
        "constraint meter_sync_snapshots_outcome_check "
        "check (outcome in ('ok', 'partial', 'failed', 'skipped'))",
        "check (csq between 0 and 31)",
    ),
    partition_by="polled_at",
)

# The raw checks' verdict on each sync, one row per suite. The fleet sync writes a row awaiting
# the verdict (passed NULL) with the sync's rows; dbt staging reads a sync only while none of
# its error-severity rows is awaiting or failed (sync_verdicts.py).
METER_SYNC_VERDICTS = RawTable(
    "meter_sync_verdicts",
    _columns(
        "sync_id uuid!",
        "suite text!",
        "severity text!",
        "passed bool",
        "judged_at timestamptz",
        "judged_by_run text",
        "summary text",
    ),
    (
        "primary key (sync_id, suite)",
        "check (severity in ('error', 'warn'))",
        "check ((passed is null) = (judged_at is null))",
    ),
)

PROFILE_LOG_1 = RawTable(
    "profile_log_1",
    _columns(
        "meter_id uuid!",
        "record_timestamp timestamptz!",
        "serial text!",
        "status int4!",
        "import_a_wh int8",
        "import_b_wh int8",
        # The meter sent this timestamp more than once, saying different things: the first is
        # kept. Added after the first release, so nullable (null: not known, as false).
        "conflicting_duplicate bool",
        "loaded_at timestamptz!",
    ),
    ("primary key (meter_id, record_timestamp)",),
    partition_by="record_timestamp",
)

# Profile log 2: export, reactive energy and voltage per half-hour (element B on twin-element
# meters only). The voltage is kept as the meter sends it: its scaling is not documented.
PROFILE_LOG_2 = RawTable(
    "profile_log_2",
    _columns(
        "meter_id uuid!",
        "record_timestamp timestamptz!",
        "serial text!",
        "status int4!",
        "export_a_wh int8",
        "reactive_import_a_varh int8",
        "reactive_export_a_varh int8",
        "voltage_raw int8",
        "export_b_wh int8",
        "reactive_import_b_varh int8",
        "reactive_export_b_varh int8",
        "conflicting_duplicate bool",
        "loaded_at timestamptz!",
    ),
    ("primary key (meter_id, record_timestamp)",),
    partition_by="record_timestamp",
)

# One row per load of a day of profile log (log 1 or 2), committed with the rows it landed: the
# energy build reads the loads it has not built yet, so a load is built exactly once whatever
# order loads commit in, and the build never searches the logs for what is new.
PROFILE_LOG_LOADS = RawTable(
    "profile_log_loads",
    _columns(
        "load_id uuid!",
        "log text!",
        "window_start timestamptz!",
        "window_end timestamptz!",
        # The meters whose rows in the window were replaced (those read); the others kept theirs.
        "meter_ids uuid[]!",
        "first_record_at timestamptz",
        "last_record_at timestamptz",
        "row_count int8!",
        "loaded_at timestamptz!",
    ),
    ("primary key (load_id)", "check (log in ('profile_log_1', 'profile_log_2'))"),
)

METER_EVENT_LOG = RawTable(
    "meter_event_log",
    _columns(
        "meter_id uuid!",
        "event_timestamp timestamptz!",
        "event_id int4!",
        "event_set int4!",
        "serial text!",
        "loaded_at timestamptz!",
    ),
    ("primary key (meter_id, event_timestamp, event_id, event_set)",),
    partition_by="event_timestamp",
)

_TARGET_KINDS = "target_kind in ('meter', 'esco', 'site', 'feeder')"
_GROUP_TARGET = (
    "target_kind not in ('site', 'feeder') or "
    "(target_name is not null and meter_id is null and serial is null and esco is null)"
)
TARIFF_CHANGE_REQUESTS = RawTable(
    "tariff_change_requests",
    _columns(
        "request_id uuid!",
        "target_kind text!",
        "meter_id uuid",
        "serial text",
        "esco uuid",
        "tariff jsonb!",
        # A site's code or a feeder's name, for a request covering a site's or feeder's meters.
        # Added after the first release: nullable so that older databases can gain it.
        "target_name text",
        "activation_at timestamptz!",
        "requested_by text!",
        "requested_at timestamptz!",
    ),
    (
        "primary key (request_id)",
        f"constraint tariff_change_requests_target_kind_check check ({_TARGET_KINDS})",
        "check (target_kind <> 'meter' or "
        "(meter_id is not null and serial is not null and esco is null))",
        "check (target_kind <> 'esco' or "
        "(esco is not null and meter_id is null and serial is null))",
        "check (jsonb_typeof(tariff) = 'object')",
        f"constraint tariff_change_requests_group_target check ({_GROUP_TARGET})",
    ),
)

# The meters a tariff change request covers, fixed when it is stored: an ESCO-wide request
# covers the ESCO's meters that passed the checks then, not whatever the ESCO holds later.
TARIFF_CHANGE_REQUEST_METERS = RawTable(
    "tariff_change_request_meters",
    _columns(
        "request_id uuid!",
        "meter_id uuid!",
        "serial text!",
        # Added after the first release, so nullable; rows from before have neither and take
        # the request's rates. The rates this meter gets: 'day_night' (twin element: element B
        # at the request's night rate) or 'single' (no night rate: element B is empty here).
        "rates_applied text",
        "unit_rate_element_b numeric",
        # Set by the write path when the meter left the registry or was deleted there before
        # the change reached it: the change is then never pushed.
        "cancelled_at timestamptz",
        "cancel_reason text",
    ),
    (
        "primary key (request_id, meter_id)",
        "check (rates_applied in ('single', 'day_night'))",
        "check (rates_applied <> 'single' or unit_rate_element_b is null)",
        "check ((cancelled_at is null) = (cancel_reason is null))",
    ),
)

# One row per attempt to put a request's tariff on one meter (the write path's audit trail).
TARIFF_PUSH_LOG = RawTable(
    "tariff_push_log",
    _columns(
        "request_id uuid!",
        "meter_id uuid!",
        "serial text!",
        "attempt int4!",
        "started_at timestamptz!",
        "finished_at timestamptz!",
        "outcome text!",
        # The meter's daylight-saving flag as read before writing, and the activation time as
        # written: the meter's wall clock (UK local time with the flag set, else UTC).
        "dst_enabled bool",
        "meter_activation timestamp",
        # When the writes were acknowledged; NULL when this attempt wrote nothing.
        "written_at timestamptz",
        "read_back jsonb",
        "reason text",
        "next_attempt_after timestamptz",
        "flagged bool!",
        "run_id text",
    ),
    (
        "primary key (request_id, meter_id, attempt)",
        "check (attempt >= 1)",
        "check (outcome in ('verified', 'sent', 'failed', 'superseded'))",
    ),
)

# Top-up tokens queued by operators; unique per meter so the same token is never queued twice.
TOPUP_TOKENS = RawTable(
    "topup_tokens",
    _columns(
        "token_id uuid!",
        "meter_id uuid!",
        "serial text!",
        "token text!",
        "requested_by text!",
        "requested_at timestamptz!",
        # Set by the write path when the meter left the registry or was deleted there before
        # the token reached it: the token is then never sent.
        "cancelled_at timestamptz",
        "cancel_reason text",
    ),
    (
        "primary key (token_id)",
        "unique (meter_id, token)",
        "check (token ~ '^[0-9]{20}$')",
        "check ((cancelled_at is null) = (cancel_reason is null))",
    ),
)

# One row per attempt to send a token. The row is committed as 'sending' before any byte goes
# to the meter and updated with the outcome after, so a crash mid-send leaves evidence.
TOPUP_LOG = RawTable(
    "topup_log",
    _columns(
        "token_id uuid!",
        "meter_id uuid!",
        "serial text!",
        "attempt int4!",
        "started_at timestamptz!",
        "finished_at timestamptz",
        "outcome text!",
        "reason text",
        "next_attempt_after timestamptz",
        "flagged bool!",
        "run_id text",
    ),
    (
        "primary key (token_id, attempt)",
        "check (attempt >= 1)",
        "check (outcome in "
        "('sending', 'applied', 'already_used', 'not_sent', 'unknown', 'rejected'))",
    ),
)

#: The infrastructure files (domain/infrastructure.py), one table each, by kind; each load
#: replaces a kind whole. References hold the key they name (an ESCO's code, a site's code,
#: a feeder's or service head's or circuit's name); the marts resolve them to ids.
_LOADED = ("source_file text!", "source_row int4!", "loaded_at timestamptz!")
INFRASTRUCTURE_TABLES: dict[str, RawTable] = {
    table.name: table
    for table in (
        RawTable(
            "escos",
            _columns("id uuid!", "code text!", "name text!", "region text", *_LOADED),
            ("primary key (id)", "unique (code)"),
        ),
        RawTable(
            "sites",
            _columns("id uuid!", "code text!", "name text!", "esco text!", *_LOADED),
            ("primary key (id)", "unique (code)"),
        ),
        RawTable(
            "properties",
            _columns("id uuid!", "site text!", "plot text!", *_LOADED),
            ("primary key (id)", "unique (site, plot)"),
        ),
        RawTable(
            "feeders",
            _columns("id uuid!", "name text!", "esco text!", "rating_kw numeric", *_LOADED),
            ("primary key (id)", "unique (name)", "check (rating_kw > 0)"),
        ),
        RawTable(
            "service_heads",
            _columns(
                "id uuid!",
                "name text!",
                "feeder text!",
                "phase int2!",
                "fuse_rating int2!",
                "type text!",
                *_LOADED,
            ),
            (
                "primary key (id)",
                "unique (name)",
                "check (phase between 1 and 3)",
                "check (fuse_rating > 0)",
                "check (type in ('customer_owned', 'network_owned'))",
            ),
        ),
        RawTable(
            "property_service_heads",
            _columns("site text!", "plot text!", "service_head text!", *_LOADED),
            ("primary key (site, plot, service_head)",),
        ),
        RawTable(
            "service_head_meters",
            _columns("service_head text!", "serial text!", *_LOADED),
            ("primary key (serial)",),
        ),
        RawTable(
            "circuits",
            _columns("id uuid!", "name text!", "type text!", "site text!", *_LOADED),
            ("primary key (id)", "unique (name)", "check (type in ('power', 'heat', 'solar'))"),
        ),
        RawTable(
            "circuit_registers",
            _columns(
                "circuit text!",
                "serial text!",
                "element text!",
                "start_time timestamptz!",
                "end_time timestamptz",
                "notes text",
                *_LOADED,
            ),
            (
                "primary key (circuit, serial, element, start_time)",
                "check (element in ('A', 'B', 'SINGLE'))",
                "check (end_time > start_time)",
            ),
        ),
    )
}

INFRASTRUCTURE_REJECTS = RawTable(
    "infrastructure_rejects",
    _columns(
        "kind text!",
        "source_file text!",
        "row_number int4!",
        "field text!",
        "value text",
        "reason text!",
        "loaded_at timestamptz!",
    ),
)

RAW_TABLES: tuple[RawTable, ...] = (
    METER_REGISTRY,
    METER_REGISTRY_REJECTS,
    METER_IDENTITY_RESOLUTIONS,
    METER_SYNCS,
    METER_SYNC_SNAPSHOTS,
    METER_SYNC_VERDICTS,
    PROFILE_LOG_1,
    PROFILE_LOG_2,
    PROFILE_LOG_LOADS,
    METER_EVENT_LOG,
    TARIFF_CHANGE_REQUESTS,
    TARIFF_CHANGE_REQUEST_METERS,
    TARIFF_PUSH_LOG,
    TOPUP_TOKENS,
    TOPUP_LOG,
    *INFRASTRUCTURE_TABLES.values(),
    INFRASTRUCTURE_REJECTS,
)

_INDEXES = (
    # The marts ask for each meter's latest snapshots; the sync id alone is the load window.
    "create index if not exists meter_sync_snapshots_meter_polled "
    "on flows_raw.meter_sync_snapshots (meter_id, polled_at desc)",
    # dbt's incremental history models read the snapshots polled since their last run.
    "create index if not exists meter_sync_snapshots_polled "
    "on flows_raw.meter_sync_snapshots (polled_at)",
    "create index if not exists meter_syncs_finished on flows_raw.meter_syncs (finished_at desc)",
    # Identity mismatches are rare: a partial index finds them without reading every snapshot.
    "create index if not exists meter_sync_snapshots_identity_mismatch "
    "on flows_raw.meter_sync_snapshots (meter_id, polled_at desc) "
    "where error_class = 'IdentityMismatchError'",
    # The checks of a run read the syncs that run landed, one per bucket.
    "create index if not exists meter_syncs_run on flows_raw.meter_syncs (run_id)",
    # What staging leaves out (a few rows at most) and what the checks still have to judge.
    "create index if not exists meter_sync_verdicts_held on flows_raw.meter_sync_verdicts "
    "(sync_id) where severity = 'error' and passed is not true",
    "create index if not exists meter_sync_verdicts_awaiting on flows_raw.meter_sync_verdicts "
    "(suite) where passed is null",
    "create index if not exists profile_log_1_timestamp_brin "
    "on flows_raw.profile_log_1 using brin (record_timestamp)",
    "create index if not exists profile_log_2_timestamp_brin "
    "on flows_raw.profile_log_2 using brin (record_timestamp)",
)


#: Advisory lock key of ensure_raw_tables (any constant the other locks of flows do not use).
_ENSURE_TABLES_LOCK = 0x666C6F7773_01

PARTITIONED_TABLES = tuple(table for table in RAW_TABLES if table.partition_by)


def ensure_raw_tables(conn: psycopg.Connection, today: date | None = None) -> None:
    """Create the raw schema, tables, indexes and this season's month partitions if they are
    missing (safe to run every time). A time-series table created unpartitioned by an earlier
    version stays as it is until `partition_existing_table` converts it."""
    months = partitions.months_around(today or datetime.now(UTC).date())
    with conn.transaction():
        # The bucket runs of a fanned-out sync start together: concurrent `create ... if not
        # exists` of the same table can still collide, so one session at a time does this.
        conn.execute("select pg_advisory_xact_lock(%s)", (_ENSURE_TABLES_LOCK,))
        conn.execute(sql.SQL("create schema if not exists {}").format(sql.Identifier(RAW_SCHEMA)))
        for table in RAW_TABLES:
            conn.execute(table.create_statement())
            _add_missing_columns(conn, table)
        for statement in _INDEXES:
            conn.execute(statement)
        _widen_checks(conn)
        for table in PARTITIONED_TABLES:
            if partitions.is_partitioned(conn, RAW_SCHEMA, table.name):
                partitions.ensure_month_partitions(conn, RAW_SCHEMA, table.name, months)


def partition_existing_table(conn: psycopg.Connection, table: RawTable) -> int | None:
    """Convert a time-series table created unpartitioned into monthly partitions, keeping its
    rows, in one transaction; return the rows moved, or None when it already is partitioned.

    The table is locked for the copy: run it between syncs."""
    assert table.partition_by is not None
    if partitions.is_partitioned(conn, RAW_SCHEMA, table.name):
        return None
    old = f"{table.name}_unpartitioned"
    with conn.transaction():
        conn.execute(
            sql.SQL("alter table {} rename to {}").format(table.identifier, sql.Identifier(old))
        )
        # Index and key names are per schema: the old ones make way for the new table's.
        for (index,) in conn.execute(
            "select indexname from pg_indexes where schemaname = %s and tablename = %s",
            (RAW_SCHEMA, old),
        ).fetchall():
            conn.execute(
                sql.SQL("alter index {} rename to {}").format(
                    sql.Identifier(RAW_SCHEMA, index), sql.Identifier(f"{index}_unpartitioned")
                )
            )
        conn.execute(table.create_statement())
        column = sql.Identifier(table.partition_by)
        first, last = conn.execute(
            sql.SQL("select min({}), max({}) from {}").format(
                column, column, sql.Identifier(RAW_SCHEMA, old)
            )
        ).fetchone()
        today = datetime.now(UTC).date()
        months = partitions.months_around(today)
        if first is not None:
            months = partitions.months_between(
                min(first.astimezone(UTC).date(), months[0].first_day),
                max(last.astimezone(UTC).date(), months[-1].first_day),
            )
        partitions.ensure_month_partitions(conn, RAW_SCHEMA, table.name, months)
        names = sql.SQL(", ").join(map(sql.Identifier, table.column_names))
        moved = conn.execute(
            sql.SQL("insert into {} ({}) select {} from {}").format(
                table.identifier, names, names, sql.Identifier(RAW_SCHEMA, old)
            )
        ).rowcount
        conn.execute(sql.SQL("drop table {}").format(sql.Identifier(RAW_SCHEMA, old)))
        for statement in _INDEXES:
            conn.execute(statement)
    return moved


#: Checks widened since the first release: (table, constraint, what it now checks, a word
#: only the new definition has). A table created before keeps its old check until replaced.
_WIDENED_CHECKS = (
    (
        "meter_sync_snapshots",
        "meter_sync_snapshots_outcome_check",
        "outcome in ('ok', 'partial', 'failed', 'skipped')",
        "partial",
    ),
    ("tariff_change_requests", "tariff_change_requests_target_kind_check", _TARGET_KINDS, "site"),
    ("tariff_change_requests", "tariff_change_requests_group_target", _GROUP_TARGET, "site"),
)


def _widen_checks(conn: psycopg.Connection) -> None:
    """Replace a check that predates what it now allows (e.g. partial reads, site requests)."""
    for table, constraint, check, marker in _WIDENED_CHECKS:
        (definition,) = conn.execute(
            "select coalesce(("
            "  select pg_get_constraintdef(oid) from pg_constraint"
            "  where conname = %s and conrelid = %s::regclass"
            "), '')",
            (constraint, f"{RAW_SCHEMA}.{table}"),
        ).fetchone()
        if marker not in definition:
            conn.execute(
                sql.SQL(
                    "alter table {} drop constraint if exists {}, add constraint {} check ({})"
                ).format(
                    sql.Identifier(RAW_SCHEMA, table),
                    sql.Identifier(constraint),
                    sql.Identifier(constraint),
                    sql.SQL(check),
                )
            )


def _add_missing_columns(conn: psycopg.Connection, table: RawTable) -> None:
    """Bring a table created by an earlier version up to its definition: add the columns it
    lacks (as nullable columns) and let null in where the definition now allows it."""
    present = dict(
        conn.execute(
            "select column_name, is_nullable = 'YES' from information_schema.columns "
            "where table_schema = %s and table_name = %s",
            (RAW_SCHEMA, table.name),
        ).fetchall()
    )
    for column in table.columns:
        if column.name not in present:
            conn.execute(
                sql.SQL("alter table {} add column {} {}").format(
                    table.identifier, sql.Identifier(column.name), sql.SQL(column.type)
                )
            )
        elif column.nullable and not present[column.name]:
            conn.execute(
                sql.SQL("alter table {} alter column {} drop not null").format(
                    table.identifier, sql.Identifier(column.name)
                )
            )


def copy_rows(cursor: psycopg.Cursor, table: RawTable, rows: Iterable[Sequence[Any]]) -> int:
    """Binary COPY of rows (tuples in the table's column order) into the table."""
    count = 0
    with cursor.copy(table.copy_statement()) as copy:
        copy.set_types([column.type for column in table.columns])
        for row in rows:
            copy.write_row(row)
            count += 1
    return count


def replace_window(
    conn: psycopg.Connection,
    table: RawTable,
    rows: Iterable[Sequence[Any]],
    where: sql.Composable,
    params: Sequence[Any] = (),
) -> int:
    """Delete the rows matching `where`, then COPY `rows` in, as one transaction."""
    with conn.transaction(), conn.cursor() as cursor:
        cursor.execute(sql.SQL("delete from {} where ").format(table.identifier) + where, params)
        return copy_rows(cursor, table, rows)
