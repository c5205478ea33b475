"""Half-hourly energy end to end: simulated meters' profile logs downloaded by the daily-logs
assets into a database of their own, then the energy marts built by dbt. The two UK clock-change
days, a gap estimated and then replaced by the late actuals, without a full refresh."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import psycopg
import pytest
from psycopg import sql

from dagster_project.domain.rules import energy_rules
from dagster_project.warehouse import connection, energy_health
from dagster_project.warehouse.raw_tables import PROFILE_LOG_1
from dagster_project.warehouse.sync_store import load_profile_log_1
from tests.support import energy
from tests.support.dbt_cli import run_dbt
from tests.support.energy import download, elements, load_registry, read_kwh, serve

ENERGY = ("+meter_consumption_daily", "+register_completeness_daily")


@pytest.fixture
def energy_database(database_url: str) -> Iterator[str]:
    with energy.energy_database() as url:
        yield url


def build(url: str) -> None:
    energy.build(url, *ENERGY)


def completeness(db: psycopg.Connection, day: date) -> list[tuple]:
    return db.execute(
        "select serial, element, half_hours_expected, half_hours_actual, half_hours_estimated, "
        "half_hours_missing, half_hours_suspect from flows.register_completeness_daily "
        "where date = %s order by serial, element",
        (day,),
    ).fetchall()


def uk_day_import(db: psycopg.Connection, serial: str, element: str, day: date) -> Decimal:
    """The UK day's import as the difference of the register's reads at its ends, kWh."""
    start, end = db.execute(
        "select (%(day)s::timestamp at time zone 'Europe/London'), "
        "((%(day)s::date + 1)::timestamp at time zone 'Europe/London')",
        {"day": day},
    ).fetchone()
    return read_kwh(db, serial, element, start, end)


def day_sum(db: psycopg.Connection, serial: str, element: str, day: date) -> Decimal:
    (total,) = db.execute(
        "select sum(daily.import_kwh) from flows.register_interval_daily as daily "
        "join flows.meter_registry as registry on registry.id = daily.meter_id "
        "where registry.serial = %s and daily.element = %s and daily.date = %s",
        (serial, element, day),
    ).fetchone()
    return total


@pytest.mark.parametrize(
    ("uk_day", "half_hours", "sim_origin", "downloads"),
    [
        # The clocks go forward at 01:00 UTC: the UK day is 00:00-23:00 UTC.
        (date(2026, 3, 29), 46, datetime(2026, 3, 30, 3, tzinfo=UTC), ("2026-03-29",)),
        # The clocks go back at 01:00 UTC: the UK day is 23:00 UTC the day before to 24:00.
        (
            date(2026, 10, 25),
            50,
            datetime(2026, 10, 27, 3, tzinfo=UTC),
            ("2026-10-24", "2026-10-25"),
        ),
    ],
    ids=["spring-46", "autumn-50"],
)
def test_a_clock_change_day_has_its_own_number_of_half_hours(
    energy_database, tmp_path, uk_day, half_hours, sim_origin, downloads
) -> None:
    with serve(sim_origin, history_days=4) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        download(energy_database, *downloads)
    build(energy_database)
    with connection.connect(energy_database, autocommit=True) as db:
        rows = completeness(db, uk_day)
        registers = {(m.serial, e) for m in fleet.meters for e in elements(m)}
        assert {(serial, element) for serial, element, *_ in rows} == registers
        for serial, element, expected, actual, estimated, missing, suspect in rows:
            assert (expected, actual, estimated, missing, suspect) == (
                half_hours,
                half_hours,
                0,
                0,
                0,
            )
            # The half-hours add up to the register's movement over the UK day, to the Wh.
            assert day_sum(db, serial, element, uk_day) == uk_day_import(
                db, serial, element, uk_day
            )
        hh = db.execute(
            "select count(*) from flows.register_interval_hh as intervals "
            "where (intervals.\"timestamp\" at time zone 'Europe/London')::date = %s",
            (uk_day,),
        ).fetchone()[0]
        assert hh == half_hours * len(registers)
        days = db.execute("select * from flows.register_interval_daily order by 1, 4").fetchall()

    # The energy models rebuilt from scratch: the days built before are summed again, not
    # counted twice.
    energy.build(energy_database, *ENERGY, full_refresh=True)
    with connection.connect(energy_database, autocommit=True) as db:
        assert (
            db.execute("select * from flows.register_interval_daily order by 1, 4").fetchall()
            == days
        )
        assert energy.days_not_summing_their_half_hours(db) == []


def intervals(db: psycopg.Connection, serial: str, day: date) -> list[tuple]:
    return db.execute(
        'select intervals.element, intervals."timestamp", intervals.import_kwh, '
        "intervals.quality from flows.register_interval_hh as intervals "
        "join flows.meter_registry as registry on registry.id = intervals.meter_id "
        "where registry.serial = %s "
        "and (intervals.\"timestamp\" at time zone 'Europe/London')::date = %s "
        'order by intervals.element, intervals."timestamp"',
        (serial, day),
    ).fetchall()


def build_half_hours_only(url: str) -> None:
    """A build that stops after the half-hours (the daily models not run)."""
    energy.build(url, "int_energy_loads", "int_energy_windows", "int_energy_half_hours_0",
                 "int_energy_half_hours_1", "register_interval_hh")  # fmt: skip
    with connection.connect(url, autocommit=True) as db:
        assert db.execute("select count(*) from flows_staging.energy_daily_changes").fetchone()[0]


def test_a_day_missed_is_estimated_then_replaced_by_its_late_actuals(
    energy_database, tmp_path
) -> None:
    day = date(2026, 11, 10)
    thread = serve(datetime(2026, 11, 12, 3, tzinfo=UTC), history_days=3)
    with thread as fleet:
        load_registry(energy_database, fleet, tmp_path)
        download(energy_database, "2026-11-09")
        # Meter 0 is out of reach while the 10th is downloaded, back for the 11th.
        thread.call(fleet.set_fault(0, "offline"))
        download(energy_database, "2026-11-10")
        thread.call(fleet.set_fault(0, None))
        download(energy_database, "2026-11-11")
        build(energy_database)

        serial = fleet.meters[0].serial
        with connection.connect(energy_database, autocommit=True) as db:
            # A whole day between two good reads (00:00 of the 10th, closing the 9th, and
            # 00:00 of the 11th): 48 half-hours, within the estimation limit.
            gap = intervals(db, serial, day)
            assert {quality for *_, quality in gap} == {"estimated"}
            assert len(gap) == 48 * len(elements(fleet.meters[0]))
            for element in elements(fleet.meters[0]):
                estimated = sum(kwh for e, _, kwh, _ in gap if e == element)
                assert estimated == uk_day_import(db, serial, element, day)  # to the Wh
            others = [m for m in fleet.meters[1:] if m.fault is None]
            assert all({q for *_, q in intervals(db, m.serial, day)} == {"actual"} for m in others)
            built_before = db.execute(
                'select count(*) from flows.register_interval_hh where "timestamp" < %s',
                (datetime(2026, 11, 9, 23, tzinfo=UTC),),
            ).fetchone()[0]
            assert energy.days_not_summing_their_half_hours(db) == []
            daily_before = dict(
                db.execute(
                    "select element, import_kwh from flows.register_interval_daily as daily "
                    "join flows.meter_registry as registry on registry.id = daily.meter_id "
                    "where registry.serial = %s and daily.date = %s",
                    (serial, day),
                ).fetchall()
            )

        # The day is downloaded again once the meter answers: its actuals replace the estimates.
        # Two builds stop after the half-hours (the days are not built); the next one, with
        # nothing new to build, still brings the days up to date.
        download(energy_database, "2026-11-10")
        build_half_hours_only(energy_database)
        with connection.connect(energy_database, autocommit=True) as db:
            # Incremental: the rebuild started at the read before the late day, not at the start.
            (starts,) = db.execute(
                "select min(starts_at) from flows_staging.int_energy_windows"
            ).fetchone()
            assert starts >= datetime(2026, 11, 9, 23, 30, tzinfo=UTC)
        download(energy_database, "2026-11-11")
        build_half_hours_only(energy_database)
    build(energy_database)
    with connection.connect(energy_database, autocommit=True) as db:
        late = intervals(db, serial, day)
        assert {quality for *_, quality in late} == {"actual"}
        assert [(e, t) for e, t, *_ in late] == [(e, t) for e, t, *_ in gap]
        for element in elements(fleet.meters[0]):
            assert sum(kwh for e, _, kwh, _ in late if e == element) == uk_day_import(
                db, serial, element, day
            )
        assert db.execute(
            "select count(*) from flows.register_interval_hh where quality = 'estimated'"
        ).fetchone() == (0,)
        assert (
            db.execute(
                'select count(*) from flows.register_interval_hh where "timestamp" < %s',
                (datetime(2026, 11, 9, 23, tzinfo=UTC),),
            ).fetchone()[0]
            == built_before
        )
        # Every half-hour once.
        assert db.execute(
            'select count(*) = count(distinct (register_id, "timestamp")) '
            "from flows.register_interval_hh"
        ).fetchone() == (True,)
        # The days changed by difference add up to their half-hours, and took every change in.
        assert energy.days_not_summing_their_half_hours(db) == []
        assert energy.meter_days_not_summing_their_registers(db) == []
        assert db.execute("select count(*) from flows_staging.energy_daily_changes").fetchone() == (
            0,
        )
        for element in elements(fleet.meters[0]):
            after = day_sum(db, serial, element, day)
            assert after == uk_day_import(db, serial, element, day)
            # The actuals differ from the estimate's shape, not from the day's total.
            assert after == daily_before[element]

    # The last build rebuilt the windows from 23:30 on the 9th only. The half-hours rebuilt from
    # scratch without what feeds them would keep just those: refused, naming the command that
    # rebuilds them all, and nothing changes. That command gives what the builds gave.
    built = every_half_hour(energy_database)
    refused = run_dbt(energy_database, "run", "--full-refresh", "--select", "register_interval_hh")
    assert refused.returncode != 0
    assert "--full-refresh --select int_energy_loads+" in refused.stdout
    assert every_half_hour(energy_database) == built
    energy.build(energy_database, *ENERGY, full_refresh=True)
    assert every_half_hour(energy_database) == built


def every_half_hour(url: str) -> list[tuple]:
    with connection.connect(url, autocommit=True) as db:
        return db.execute(
            'select * from flows.register_interval_hh order by register_id, "timestamp"'
        ).fetchall()


def test_a_register_going_backwards_is_an_error_naming_the_meter_and_half_hour(
    energy_database, tmp_path
) -> None:
    day = date(2026, 11, 10)
    with serve(datetime(2026, 11, 11, 3, tzinfo=UTC), history_days=2) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        download(energy_database, day.isoformat())
    build(energy_database)
    serial = fleet.meters[1].serial
    bad_read = datetime(2026, 11, 10, 12, tzinfo=UTC)
    with connection.connect(energy_database, autocommit=True) as db:
        assert energy_health.day_completeness(db, day).share == 1.0
        # The day lands again through the loader with one read lower than the one before it (a
        # corrupt record, or a meter exchanged without the registry knowing).
        meter_id, *_ = db.execute(
            "select meter_id from flows_raw.profile_log_1 where serial = %s limit 1", (serial,)
        ).fetchone()
        window = (datetime(2026, 11, 10, tzinfo=UTC), datetime(2026, 11, 11, 0, 30, tzinfo=UTC))
        columns = PROFILE_LOG_1.column_names
        rows = [
            dict(zip(columns, row, strict=True))
            for row in db.execute(
                sql.SQL(
                    "select {} from flows_raw.profile_log_1 where meter_id = %s "
                    "and record_timestamp >= %s and record_timestamp < %s"
                ).format(sql.SQL(", ").join(map(sql.Identifier, columns))),
                (meter_id, *window),
            ).fetchall()
        ]
        for row in rows:
            if row["record_timestamp"] == bad_read:
                row["import_a_wh"] -= 5000
        load_profile_log_1(db, window, [meter_id], [PROFILE_LOG_1.row(row) for row in rows])
    build(energy_database)
    with connection.connect(energy_database, autocommit=True) as db:
        since = datetime(2026, 11, 10, tzinfo=UTC)
        flagged = energy_health.flagged_half_hours(db, since, "negative_consumption")
        assert {(f.serial, f.half_hour) for f in flagged} == {
            (serial, bad_read - timedelta(minutes=30))
        }
        assert all(f.import_kwh is None for f in flagged)
        verdict = energy_rules.judge_negative_consumption(flagged)
        assert not verdict.passed and verdict.severity == "ERROR" and serial in verdict.summary
        # The day counts that half-hour as suspect, not as consumption.
        suspect = {(row[0], row[1]): row[-1] for row in completeness(db, day)}
        assert suspect[(serial, elements(fleet.meters[1])[0])] == 1


ANALYZED_WHEN_WITHOUT_STATISTICS = (
    "flows.register_interval_hh",
    "flows.register_interval_daily",
    "flows.meter_consumption_daily",
)


def last_analyzed(db: psycopg.Connection) -> dict[str, datetime | None]:
    """When each table was last analyzed by a command (not by autovacuum)."""
    return dict(
        db.execute(
            "select schemaname || '.' || relname, last_analyze from pg_stat_user_tables "
            "where relid = any(%s::regclass[])",
            (list(ANALYZED_WHEN_WITHOUT_STATISTICS),),
        ).fetchall()
    )


def test_a_table_built_from_scratch_is_analyzed_before_its_first_incremental_build(
    energy_database, tmp_path
) -> None:
    # Without statistics the next build's plans guess: the delete of the windows read every
    # half-hour of the history. Autovacuum comes round in its own time; the build does not wait.
    with serve(datetime(2026, 11, 11, 3, tzinfo=UTC), history_days=2) as fleet:
        load_registry(energy_database, fleet, tmp_path)
        download(energy_database, "2026-11-09")
        build(energy_database)
        with connection.connect(energy_database, autocommit=True) as db:
            assert set(last_analyzed(db).values()) == {None}
            # As if autovacuum had not come round yet, whatever it did meanwhile; and kept away
            # until the end, or it could analyze a table before the build looks.
            for table in ANALYZED_WHEN_WITHOUT_STATISTICS:
                db.execute(
                    sql.SQL("alter table {} set (autovacuum_enabled = false)").format(
                        sql.Identifier(*table.split("."))
                    )
                )
            db.execute(
                "delete from pg_statistic where starelid = any(%s::regclass[])",
                (list(ANALYZED_WHEN_WITHOUT_STATISTICS),),
            )
        download(energy_database, "2026-11-10")
    build(energy_database)
    with connection.connect(energy_database, autocommit=True) as db:
        analyzed = last_analyzed(db)
        assert None not in analyzed.values()
        (with_statistics,) = db.execute(
            "select count(distinct starelid) from pg_statistic "
            "where starelid = any(%s::regclass[])",
            (list(ANALYZED_WHEN_WITHOUT_STATISTICS),),
        ).fetchone()
        assert with_statistics == len(ANALYZED_WHEN_WITHOUT_STATISTICS)
    # Once: a table with statistics is not analyzed again by every build.
    build(energy_database)
    with connection.connect(energy_database, autocommit=True) as db:
        assert last_analyzed(db) == analyzed
