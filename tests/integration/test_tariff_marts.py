"""The tariff change marts over a hand-made write-path history: each change's status, attempts
and activation in flows.tariff_changes, and each meter's pending change in
flows.meter_shadows_tariffs, as a hand computation over the raw rows says."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

import psycopg
import pytest
from psycopg import sql
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

from dagster_project.defs.dbt.assets import PRODUCTION_DBT_BUILD_EXCLUDES
from dagster_project.domain.tariff_requests import tariff_json_text
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import (
    METER_SYNC_SNAPSHOTS,
    TARIFF_CHANGE_REQUEST_METERS,
    TARIFF_CHANGE_REQUESTS,
    TARIFF_PUSH_LOG,
    RawTable,
)
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt
from tests.support.registry import load_registry, registry_row

UK = ZoneInfo("Europe/London")
ESCO = "55555555-5555-4555-8555-555555555555"
MIXED_ESCO = "77777777-7777-4777-8777-777777777777"

METERS = {
    "never_tried": registry_row(0),
    "retried": registry_row(1),
    "activated": registry_row(2),
    "superseded": registry_row(3),
    "given_up": registry_row(4, hardware="B1.w"),
    **{f"esco_{n}": registry_row(5 + n, esco=ESCO) for n in range(3)},
    "mixed_twin": registry_row(8, esco=MIXED_ESCO),
    "mixed_single": registry_row(9, esco=MIXED_ESCO, hardware="B1.w"),
    "deleted": registry_row(10),
}


def meter_id(meter: str) -> uuid.UUID:
    return uuid.UUID(METERS[meter]["id"])


def serial(meter: str) -> str:
    return METERS[meter]["serial"]


# The old tariff every meter reports as active before a change takes over.
OLD_TARIFF = {
    "standing_charge": Decimal("0.5"),
    "unit_rate_element_a": Decimal("0.25"),
    "unit_rate_element_b": Decimal("0.12"),
    "prepayment_ecredit_availability": Decimal("10"),
    "prepayment_debt_recovery_rate": Decimal("0.25"),
    "prepayment_emergency_credit": Decimal("15"),
}
NEW_TARIFF = {
    **OLD_TARIFF,
    "standing_charge": Decimal("0.5868"),
    "unit_rate_element_a": Decimal("0.2843"),
    "unit_rate_element_b": Decimal("0.15"),
}
OTHER_NIGHT_RATE = {**NEW_TARIFF, "unit_rate_element_b": Decimal("0.2")}
SINGLE_RATE_TARIFF = {**NEW_TARIFF, "unit_rate_element_b": None}
# British Summer Time: midnight in the UK is 23:00 UTC the day before.
APRIL = datetime(2026, 4, 1, 0, 0)
JUNE = datetime(2026, 6, 1, 0, 0)
REQUESTED_AT = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


@dataclass(eq=False)  # each request is itself, a key of PUSH_LOG
class Request:
    """A tariff change request as `flows tariff set` stores it, for one meter or an ESCO."""

    meters: list[str]
    activation_local: datetime
    tariff: dict[str, Decimal | None] = field(default_factory=lambda: dict(NEW_TARIFF))
    esco: str | None = None
    requested_by: str = "alice"
    requested_at: datetime = REQUESTED_AT
    request_id: uuid.UUID = field(default_factory=uuid.uuid4)
    #: Meter -> (rates_applied, its night rate), as `flows tariff set` stores them; a meter not
    #: named has a row from before rates were kept per meter (empty columns).
    rates: dict[str, tuple[str, Decimal | None]] = field(default_factory=dict)
    #: Meter -> (cancelled_at, cancel_reason), as the write path records them.
    cancelled: dict[str, tuple[datetime, str]] = field(default_factory=dict)

    @property
    def activation_at(self) -> datetime:
        return self.activation_local.replace(tzinfo=UK).astimezone(UTC)

    def rates_of(self, meter: str) -> tuple[str, Decimal | None]:
        """What the mart should show: the meter's own rates, else the request's."""
        night = self.tariff["unit_rate_element_b"]
        return self.rates.get(meter, ("single" if night is None else "day_night", night))


def attempt(
    number: int,
    outcome: str,
    started_at: datetime,
    *,
    wrote: bool,
    flagged: bool = False,
    reason: str | None = None,
) -> dict[str, Any]:
    """A push-log row: an attempt that wrote was acknowledged 4 s in and ended 5 s later."""
    settled = flagged or outcome in ("verified", "superseded")
    return {
        "attempt": number,
        "outcome": outcome,
        "started_at": started_at,
        "written_at": started_at + timedelta(seconds=4) if wrote else None,
        "finished_at": started_at + timedelta(seconds=9),
        "dst_enabled": True if wrote else None,
        "flagged": flagged,
        "reason": reason,
        "next_attempt_after": None if settled else started_at + timedelta(minutes=15),
    }


PUSHED = datetime(2026, 3, 3, 10, 0, tzinfo=UTC)
NO_ANSWER = "MeterTimeoutError: no answer"

NEVER_TRIED = Request(["never_tried"], APRIL)
NEVER_TRIED_LATER = Request(["never_tried"], JUNE, requested_at=REQUESTED_AT + timedelta(hours=1))
RETRIED = Request(["retried"], APRIL)
ACTIVATED = Request(["activated"], APRIL)
ACTIVATED_NEXT = Request(["activated"], JUNE)
SUPERSEDED = Request(["superseded"], APRIL)
SUPERSEDING = Request(["superseded"], JUNE, requested_by="bob", requested_at=PUSHED)
GIVEN_UP = Request(["given_up"], APRIL, tariff=dict(SINGLE_RATE_TARIFF))
ESCO_WIDE = Request([f"esco_{n}" for n in range(3)], JUNE, esco=ESCO)
MIXED = Request(
    ["mixed_twin", "mixed_single"],
    JUNE,
    esco=MIXED_ESCO,
    rates={"mixed_twin": ("day_night", Decimal("0.15")), "mixed_single": ("single", None)},
)
CANCELLED_AT = PUSHED + timedelta(hours=2)
DELETED_REASON = f"meter {serial('deleted')} is deleted (installation_status 'deleted' ...)"
CANCELLED = Request(
    ["deleted"],
    APRIL,
    rates={"deleted": ("day_night", Decimal("0.15"))},
    cancelled={"deleted": (CANCELLED_AT, DELETED_REASON)},
)
REQUESTS = [
    NEVER_TRIED,
    NEVER_TRIED_LATER,
    RETRIED,
    ACTIVATED,
    ACTIVATED_NEXT,
    SUPERSEDED,
    SUPERSEDING,
    GIVEN_UP,
    ESCO_WIDE,
    MIXED,
    CANCELLED,
]

# (request, meter) -> its attempts in order.
PUSH_LOG: dict[tuple[Request, str], list[dict[str, Any]]] = {
    (RETRIED, "retried"): [
        attempt(1, "failed", PUSHED, wrote=False, reason=NO_ANSWER),
        attempt(2, "verified", PUSHED + timedelta(minutes=15), wrote=True),
    ],
    (ACTIVATED, "activated"): [attempt(1, "verified", PUSHED, wrote=True)],
    (SUPERSEDED, "superseded"): [
        attempt(
            1, "superseded", PUSHED, wrote=False, reason=f"superseded by {SUPERSEDING.request_id}"
        )
    ],
    (GIVEN_UP, "given_up"): [
        attempt(1, "failed", PUSHED, wrote=False, reason=NO_ANSWER),
        attempt(
            2, "failed", PUSHED + timedelta(hours=1), wrote=False, reason=NO_ANSWER, flagged=True
        ),
    ],
    # Tried while the meter could not be reached; cancelled when it was deleted.
    (CANCELLED, "deleted"): [attempt(1, "failed", PUSHED, wrote=False, reason=NO_ANSWER)],
}

# (meter, polled at, active tariff) of good reads. The activated meter shows the new tariff a
# little before its activation (which must not count), then another tariff, then the new one.
ACTIVATED_AT = ACTIVATED.activation_at + timedelta(minutes=30)
SNAPSHOTS: list[tuple[str, datetime, dict[str, Decimal | None]]] = [
    ("activated", ACTIVATED.activation_at - timedelta(minutes=15), NEW_TARIFF),
    ("activated", ACTIVATED.activation_at, OLD_TARIFF),
    ("activated", ACTIVATED.activation_at + timedelta(minutes=15), OTHER_NIGHT_RATE),
    ("activated", ACTIVATED_AT, NEW_TARIFF),
    ("activated", ACTIVATED_AT + timedelta(minutes=15), NEW_TARIFF),
    # Another meter on the new tariff says nothing about the retried one, and a change never
    # pushed is not active whatever its meter shows.
    ("retried", ACTIVATED_AT, OLD_TARIFF),
    ("esco_0", ESCO_WIDE.activation_at + timedelta(minutes=15), NEW_TARIFF),
]


def insert(conn: psycopg.Connection, table: RawTable, row: dict[str, Any]) -> None:
    conn.execute(
        sql.SQL("insert into {} ({}) values ({})").format(
            table.identifier,
            sql.SQL(", ").join(map(sql.Identifier, row)),
            sql.SQL(", ").join(map(sql.Placeholder, row)),
        ),
        row,
    )


def tariff_json(request: Request) -> Jsonb:
    tariff = {**request.tariff, "activation_datetime": request.activation_local.isoformat()}
    return Jsonb(tariff, dumps=tariff_json_text)


def load_requests(conn: psycopg.Connection) -> None:
    for request in REQUESTS:
        one_meter = request.esco is None
        insert(
            conn,
            TARIFF_CHANGE_REQUESTS,
            {
                "request_id": request.request_id,
                "target_kind": "meter" if one_meter else "esco",
                "meter_id": meter_id(request.meters[0]) if one_meter else None,
                "serial": serial(request.meters[0]) if one_meter else None,
                "esco": request.esco,
                "tariff": tariff_json(request),
                "activation_at": request.activation_at,
                "requested_by": request.requested_by,
                "requested_at": request.requested_at,
            },
        )
        for meter in request.meters:
            row: dict[str, Any] = {
                "request_id": request.request_id,
                "meter_id": meter_id(meter),
                "serial": serial(meter),
            }
            if meter in request.rates:
                row["rates_applied"], row["unit_rate_element_b"] = request.rates[meter]
            if meter in request.cancelled:
                row["cancelled_at"], row["cancel_reason"] = request.cancelled[meter]
            insert(conn, TARIFF_CHANGE_REQUEST_METERS, row)
    for (request, meter), attempts in PUSH_LOG.items():
        for row in attempts:
            insert(
                conn,
                TARIFF_PUSH_LOG,
                {
                    **row,
                    "request_id": request.request_id,
                    "meter_id": meter_id(meter),
                    "serial": serial(meter),
                    "meter_activation": request.activation_local if row["written_at"] else None,
                },
            )


def load_snapshots(conn: psycopg.Connection) -> None:
    for meter, polled_at, tariff in SNAPSHOTS:
        values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
        values.update(
            sync_id=uuid.uuid4(),
            meter_id=meter_id(meter),
            serial=serial(meter),
            polled_at=polled_at,
            outcome="ok",
            balance=Decimal("20"),
            # As a sync lands it: JSON numbers, no key for a value the meter lacks.
            tariffs_active={k: float(v) for k, v in tariff.items() if v is not None},
        )
        row = tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)
        load_sync(conn, SyncHeader(values["sync_id"], polled_at, polled_at, 1, 0, 0, None), [row])


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    """A database of this module's own: its registry and requests meet no other test's."""
    with scratch_database(database_url, "flows_tariff_marts") as private_url:
        load_registry(private_url, list(METERS.values()))
        with connection.connect(private_url) as conn:
            load_requests(conn)
            load_snapshots(conn)
            conn.commit()
        build = run_dbt(private_url, "build", *PRODUCTION_DBT_BUILD_EXCLUDES)
        assert build.returncode == 0, build.stdout[-4000:]
        yield private_url


@pytest.fixture(scope="module")
def changes(url: str) -> dict[tuple[uuid.UUID, uuid.UUID], dict[str, Any]]:
    with connection.connect(url) as conn, conn.cursor(row_factory=dict_row) as cursor:
        rows = cursor.execute("select * from flows.tariff_changes").fetchall()
    by_key = {(row["request_id"], row["meter_id"]): row for row in rows}
    assert len(by_key) == len(rows), "a (request, meter) with more than one row"
    return by_key


def change(changes: dict, request: Request, meter: str | None = None) -> dict[str, Any]:
    return changes[(request.request_id, meter_id(meter or request.meters[0]))]


def test_every_covered_meter_has_one_row_with_its_request(changes: dict) -> None:
    covered = {(r.request_id, meter_id(m)): (r, m) for r in REQUESTS for m in r.meters}
    assert set(changes) == set(covered)
    for key, (request, meter) in covered.items():
        row = changes[key]
        assert row["serial"] == serial(meter)
        assert row["esco"] == uuid.UUID(request.esco or METERS[meter]["esco"])
        assert row["target_kind"] == ("meter" if request.esco is None else "esco")
        assert (row["activation_local"], row["activation_at"]) == (
            request.activation_local,
            request.activation_at,
        )
        assert (row["requested_by"], row["requested_at"]) == (
            request.requested_by,
            request.requested_at,
        )
        money = ("standing_charge", "unit_rate_a")
        keys = ("standing_charge", "unit_rate_element_a")
        assert [row[c] for c in money] == [request.tariff[k] for k in keys]
        assert (row["rates_applied"], row["unit_rate_b"]) == request.rates_of(meter)
        assert row["emergency_credit"] == request.tariff["prepayment_emergency_credit"]
        assert (row["cancelled_at"], row["cancel_reason"]) == request.cancelled.get(
            meter, (None, None)
        )


def test_attempts_are_counted_from_the_push_log(changes: dict) -> None:
    for request in REQUESTS:
        for meter in request.meters:
            row = change(changes, request, meter)
            attempts = PUSH_LOG.get((request, meter), [])
            written = [a["written_at"] for a in attempts if a["written_at"]]
            verified = [a["finished_at"] for a in attempts if a["outcome"] == "verified"]
            last = attempts[-1] if attempts else {}
            assert row["attempts"] == len(attempts)
            assert row["first_attempt_at"] == (attempts[0]["started_at"] if attempts else None)
            assert row["pushed_at"] == min(written, default=None)
            assert row["verified_at"] == min(verified, default=None)
            assert row["last_outcome"] == last.get("outcome")
            assert row["last_reason"] == last.get("reason")
            assert row["next_attempt_after"] == last.get("next_attempt_after")
            assert row["flagged"] == any(a["flagged"] for a in attempts)
            assert row["meter_activation"] == (request.activation_local if written else None)
            assert row["dst_enabled"] == (True if written else None)


def test_a_request_never_attempted_is_requested(changes: dict) -> None:
    row = change(changes, NEVER_TRIED)
    assert (row["status"], row["attempts"], row["pushed_at"]) == ("requested", 0, None)


def test_a_failure_then_a_verification_is_verified_after_two_attempts(changes: dict) -> None:
    row = change(changes, RETRIED)
    assert (row["status"], row["attempts"]) == ("verified", 2)
    assert row["activated_at"] is None  # its meter still reports the old tariff


def test_a_verified_change_is_active_from_the_first_read_showing_it_after_activation(
    changes: dict,
) -> None:
    row = change(changes, ACTIVATED)
    assert row["status"] == "active"
    first_read = min(
        polled_at
        for meter, polled_at, tariff in SNAPSHOTS
        if meter == "activated" and polled_at >= ACTIVATED.activation_at and tariff == NEW_TARIFF
    )
    assert row["activated_at"] == first_read == ACTIVATED_AT


def test_a_superseded_change_is_superseded(changes: dict) -> None:
    row = change(changes, SUPERSEDED)
    assert row["status"] == "superseded"
    assert row["last_reason"] == f"superseded by {SUPERSEDING.request_id}"
    assert change(changes, SUPERSEDING)["status"] == "requested"


def test_a_change_given_up_on_is_failed(changes: dict) -> None:
    row = change(changes, GIVEN_UP)
    assert (row["status"], row["flagged"], row["unit_rate_b"]) == ("failed", True, None)


def test_a_mixed_esco_request_shows_each_meters_own_rates(changes: dict) -> None:
    twin, single = change(changes, MIXED, "mixed_twin"), change(changes, MIXED, "mixed_single")
    assert (twin["rates_applied"], twin["unit_rate_a"], twin["unit_rate_b"]) == (
        "day_night",
        NEW_TARIFF["unit_rate_element_a"],
        Decimal("0.15"),
    )
    assert (single["rates_applied"], single["unit_rate_a"], single["unit_rate_b"]) == (
        "single",
        NEW_TARIFF["unit_rate_element_a"],
        None,
    )


def test_a_cancelled_change_is_cancelled_with_its_reason_after_its_failed_attempt(
    changes: dict,
) -> None:
    row = change(changes, CANCELLED)
    assert (row["status"], row["cancelled_at"], row["cancel_reason"]) == (
        "cancelled",
        CANCELLED_AT,
        DELETED_REASON,
    )
    assert (row["attempts"], row["last_outcome"]) == (1, "failed")


def test_an_esco_request_gives_a_row_per_covered_meter(changes: dict) -> None:
    rows = [row for (request_id, _), row in changes.items() if request_id == ESCO_WIDE.request_id]
    assert sorted(row["serial"] for row in rows) == sorted(serial(m) for m in ESCO_WIDE.meters)
    assert len(rows) == 3
    # Never pushed, so a read showing the new tariff after its activation does not count.
    assert {row["status"] for row in rows} == {"requested"}


PENDING_COLUMNS = (
    "pending_request_id",
    "pending_status",
    "pending_requested_by",
    "pending_requested_at",
    "pending_activation_at",
    "pending_standing_charge",
    "pending_unit_rate_a",
    "pending_unit_rate_b",
    "pending_emergency_credit",
)


def expected_pending(meter: str, changes: dict) -> tuple | None:
    """The meter's change not active, superseded or cancelled that activates first (ties: latest
    request)."""
    waiting = [
        request
        for request in REQUESTS
        if meter in request.meters
        and change(changes, request, meter)["status"] not in ("active", "superseded", "cancelled")
    ]
    if not waiting:
        return None
    first = min(waiting, key=lambda r: (r.activation_at, -r.requested_at.timestamp()))
    return (
        first.request_id,
        change(changes, first, meter)["status"],
        first.requested_by,
        first.requested_at,
        first.activation_at,
        first.tariff["standing_charge"],
        first.tariff["unit_rate_element_a"],
        first.rates_of(meter)[1],
        first.tariff["prepayment_emergency_credit"],
    )


def test_the_tariffs_view_shows_each_meters_pending_change(url: str, changes: dict) -> None:
    columns = sql.SQL(", ").join(map(sql.Identifier, PENDING_COLUMNS))
    with connection.connect(url) as conn:
        rows = conn.execute(
            sql.SQL(
                "select serial, {} from flows.meter_shadows_tariffs join flows.meter_registry "
                "using (id)"
            ).format(columns)
        ).fetchall()
    pending = {row[0]: row[1:] for row in rows}
    assert set(pending) == {serial(m) for m in METERS}
    expected = {serial(m): expected_pending(m, changes) or (None,) * 9 for m in METERS}
    assert pending == expected
    # The cases that matter, spelled out: the earlier of two requests, the one after an
    # active change, the one replacing a superseded change, and a failed change still waiting.
    assert pending[serial("never_tried")][0] == NEVER_TRIED.request_id
    assert pending[serial("activated")][0] == ACTIVATED_NEXT.request_id
    assert pending[serial("superseded")][:3] == (SUPERSEDING.request_id, "requested", "bob")
    assert pending[serial("given_up")][:2] == (GIVEN_UP.request_id, "failed")
    # The single-rate meter of a mixed ESCO waits for no night rate; a cancelled change is
    # nothing to wait for.
    assert pending[serial("mixed_single")][0] == MIXED.request_id
    assert pending[serial("mixed_single")][7] is None
    assert pending[serial("deleted")] == (None,) * 9
