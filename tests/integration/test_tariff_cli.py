"""`flows tariff set` as an operator runs it, against a real registry in PostgreSQL."""

from __future__ import annotations

import getpass
import json
import os
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from functools import partial

import psycopg
import pytest
from psycopg import sql
from psycopg.types.json import set_json_loads

from dagster_project.domain.tariff_push import WriteRetryPolicy
from dagster_project.paths import PROJECT_ROOT
from dagster_project.services.write_path import run_write_path
from dagster_project.settings import DATABASE_URL
from dagster_project.warehouse import connection, write_store
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS, ensure_raw_tables
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt
from tests.support.flows_cli import FLOWS
from tests.support.registry import load_registry, registry_row
from tests.support.simulated import QUICK_EMOP

ESCO_TWINS = "11111111-1111-4111-8111-111111111111"  # two C1.w, a passive one, one without prepay
ESCO_MIXED = "22222222-2222-4222-8222-222222222222"  # a C1.w and a B1.w
ESCO_IDLE = "33333333-3333-4333-8333-333333333333"  # only a passive meter
ESCO_UNKNOWN = "44444444-4444-4444-8444-444444444444"

METERS = [
    registry_row(0, esco=ESCO_TWINS),
    registry_row(1, esco=ESCO_TWINS),
    registry_row(2, esco=ESCO_TWINS, mode="passive"),
    registry_row(3, esco=ESCO_TWINS, prepay_enabled="false"),
    registry_row(4, esco=ESCO_MIXED),
    registry_row(5, esco=ESCO_MIXED, hardware="B1.w"),
    registry_row(6, esco=ESCO_IDLE, mode="passive"),
    registry_row(7, hardware="B1.w"),
]
TWIN, TWIN_2, PASSIVE, NO_PREPAY, MIXED_TWIN, MIXED_SINGLE, IDLE, SINGLE = (
    meter["serial"] for meter in METERS
)
METER_ID = {meter["serial"]: uuid.UUID(meter["id"]) for meter in METERS}


def last_sunday(year: int, month: int) -> date:
    """UK clocks change on the last Sunday of March and of October."""
    day = date(year, month + 1, 1) - timedelta(days=1)
    return day - timedelta(days=(day.weekday() - 6) % 7)


# A year that stays in the future whenever the suite runs.
YEAR = datetime.now(UTC).year + 1
SPRING_FORWARD = last_sunday(YEAR, 3)
FALL_BACK = last_sunday(YEAR, 10)

TARIFF = (
    "--standing-charge", "0.5868",
    "--unit-rate-a", "0.2843",
    "--ecredit-availability", "10.00",
    "--debt-recovery-rate", "0.25",
    "--emergency-credit", "15.00",
)  # fmt: skip
RATE_B = ("--unit-rate-b", "0.15")
APRIL_FIRST = ("--from", f"{YEAR}-04-01T00:00")


@contextmanager
def private_database(server_url: str) -> Iterator[str]:
    """A database of this module's own: no other test's registry, and no dbt run until ours."""
    with scratch_database(server_url, "flows_tariff") as url:
        yield url


@pytest.fixture(scope="module")
def url(database_url: str) -> Iterator[str]:
    with private_database(database_url) as private_url:
        load_registry(private_url, METERS)
        yield private_url


@pytest.fixture
def conn(url: str) -> Iterator[psycopg.Connection]:
    with connection.connect(url, autocommit=True) as conn:
        # Money comes back exactly as stored, not through float.
        set_json_loads(partial(json.loads, parse_float=Decimal), conn)
        yield conn


def flows_tariff(url: str, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, DATABASE_URL: url}
    return subprocess.run(
        [FLOWS, "tariff", "set", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        cwd=PROJECT_ROOT,
    )


COLUMNS = (
    "request_id",
    "target_kind",
    "meter_id",
    "serial",
    "esco",
    "tariff",
    "activation_at",
    "requested_by",
    "requested_at",
)


def stored(conn: psycopg.Connection) -> list[tuple]:
    query = sql.SQL("select {} from flows_raw.tariff_change_requests order by requested_at")
    return conn.execute(query.format(sql.SQL(", ").join(map(sql.Identifier, COLUMNS)))).fetchall()


def request_id_of(output: str) -> uuid.UUID:
    first = output.splitlines()[0]
    assert first.startswith("tariff change request "), output
    return uuid.UUID(first.split()[3])


def test_a_meter_request_is_stored_once_with_its_json_and_utc_activation(
    url: str, conn: psycopg.Connection
) -> None:
    before = stored(conn)
    result = flows_tariff(
        url, "--serial", TWIN, *TARIFF, *RATE_B, *APRIL_FIRST, "--requested-by", "alice"
    )
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    request_id = request_id_of(result.stdout)

    new = [row for row in stored(conn) if row not in before]
    assert len(new) == 1
    row = dict(zip(COLUMNS, new[0], strict=True))
    assert (row["request_id"], row["target_kind"], row["meter_id"], row["serial"], row["esco"]) == (
        request_id,
        "meter",
        METER_ID[TWIN],
        TWIN,
        None,
    )
    assert row["tariff"] == {
        "standing_charge": Decimal("0.5868"),
        "unit_rate_element_a": Decimal("0.2843"),
        "unit_rate_element_b": Decimal("0.15"),
        "prepayment_ecredit_availability": Decimal("10.00"),
        "prepayment_debt_recovery_rate": Decimal("0.25"),
        "prepayment_emergency_credit": Decimal("15.00"),
        "activation_datetime": f"{YEAR}-04-01T00:00:00",
    }
    # BST: local midnight is 23:00 UTC the day before.
    assert row["activation_at"] == datetime(YEAR, 3, 31, 23, 0, tzinfo=UTC)
    assert row["requested_by"] == "alice"
    assert datetime.now(UTC) - row["requested_at"] < timedelta(minutes=5)
    assert f"meter {TWIN} ({METER_ID[TWIN]}): unit rate A 0.2843 GBP/kWh, B 0.15" in result.stdout
    # Numbers in the JSON itself, as the Meter Domain page shapes it.
    (kind,) = conn.execute(
        "select jsonb_typeof(tariff -> 'standing_charge') from flows_raw.tariff_change_requests "
        "where request_id = %s",
        (request_id,),
    ).fetchone()
    assert kind == "number"


def test_a_single_rate_request_after_the_autumn_change_defaults_to_the_os_user(
    url: str, conn: psycopg.Connection
) -> None:
    result = flows_tariff(url, "--serial", SINGLE, *TARIFF, "--from", f"{YEAR}-11-01T00:00")
    assert result.returncode == 0, result.stderr
    request_id = request_id_of(result.stdout)
    tariff, activation_at, requested_by = conn.execute(
        "select tariff, activation_at, requested_by from flows_raw.tariff_change_requests "
        "where request_id = %s",
        (request_id,),
    ).fetchone()
    assert tariff["unit_rate_element_b"] is None
    assert activation_at == datetime(YEAR, 11, 1, 0, 0, tzinfo=UTC)  # GMT again
    assert requested_by == getpass.getuser()


def test_an_esco_request_covers_its_active_prepay_meters(
    url: str, conn: psycopg.Connection
) -> None:
    result = flows_tariff(url, "--esco", ESCO_TWINS, *TARIFF, *RATE_B, *APRIL_FIRST)
    assert result.returncode == 0, result.stderr
    request_id = request_id_of(result.stdout)
    assert f"stored for ESCO {ESCO_TWINS} (2 meters)" in result.stdout
    meter_lines = [line for line in result.stdout.splitlines() if line.startswith("  meter ")]
    assert [line.split()[1] for line in meter_lines] == [TWIN, TWIN_2]  # not passive, not off

    kind, meter_id, serial, esco, tariff = conn.execute(
        "select target_kind, meter_id, serial, esco, tariff "
        "from flows_raw.tariff_change_requests where request_id = %s",
        (request_id,),
    ).fetchone()
    assert (kind, meter_id, serial, esco) == ("esco", None, None, uuid.UUID(ESCO_TWINS))
    assert tariff["unit_rate_element_b"] == Decimal("0.15")


def test_an_esco_named_by_its_code_is_the_esco_of_that_code(
    url: str, conn: psycopg.Connection
) -> None:
    conn.execute(
        "insert into flows_raw.escos (id, code, name, source_file, source_row, loaded_at) "
        "values (%s, 'wlce', 'Water Lilies', 'escos.csv', 2, now())",
        (ESCO_TWINS,),
    )
    try:
        result = flows_tariff(url, "--esco", "WLCE", *TARIFF, *RATE_B, *APRIL_FIRST)
        assert result.returncode == 0, result.stderr
        assert f"stored for ESCO {ESCO_TWINS} (2 meters)" in result.stdout
        (esco,) = conn.execute(
            "select esco from flows_raw.tariff_change_requests where request_id = %s",
            (request_id_of(result.stdout),),
        ).fetchone()
        assert esco == uuid.UUID(ESCO_TWINS)
        unknown = flows_tariff(url, "--esco", "acme", *TARIFF, *RATE_B, *APRIL_FIRST)
        assert unknown.returncode != 0
        assert "not a UUID, nor the code of an ESCO in escos.csv" in unknown.stderr
    finally:
        conn.execute("delete from flows_raw.escos")


def place_meters(conn: psycopg.Connection) -> None:
    """Service heads H0 and H1 on feeder F1 (meters 0 and 3, and 1), H4 on F2 (meter 4); H0
    serves a property of site meadow."""
    loaded = "'infra.csv', 2, now()"
    for head, feeder in (("H0", "F1"), ("H1", "F1"), ("H4", "F2")):
        conn.execute(
            "insert into flows_raw.service_heads (id, name, feeder, phase, fuse_rating, type, "
            f"source_file, source_row, loaded_at) values (gen_random_uuid(), %s, %s, 3, 100, "
            f"'network_owned', {loaded})",
            (head, feeder),
        )
    for number, head in ((0, "H0"), (3, "H0"), (1, "H1"), (4, "H4")):
        conn.execute(
            "insert into flows_raw.service_head_meters (service_head, serial, source_file, "
            f"source_row, loaded_at) values (%s, %s, {loaded})",
            (head, METERS[number]["serial"]),
        )
    conn.execute(
        "insert into flows_raw.property_service_heads (site, plot, service_head, source_file, "
        f"source_row, loaded_at) values ('meadow', '1', 'H0', {loaded})"
    )


def test_a_site_or_feeder_request_covers_the_active_prepay_meters_on_it(
    url: str, conn: psycopg.Connection
) -> None:
    place_meters(conn)
    try:
        feeder = flows_tariff(url, "--feeder", "F1", *TARIFF, *RATE_B, *APRIL_FIRST)
        assert feeder.returncode == 0, feeder.stderr
        assert "stored for feeder F1 (2 meters)" in feeder.stdout
        meter_lines = [line for line in feeder.stdout.splitlines() if line.startswith("  meter ")]
        assert [line.split()[1] for line in meter_lines] == [TWIN, TWIN_2]
        assert conn.execute(
            "select target_kind, target_name, meter_id, serial, esco "
            "from flows_raw.tariff_change_requests where request_id = %s",
            (request_id_of(feeder.stdout),),
        ).fetchone() == ("feeder", "F1", None, None, None)

        # Meter 3 on the site has prepayment off: only meter 0 is covered.
        site = flows_tariff(url, "--site", "MEADOW", *TARIFF, *RATE_B, *APRIL_FIRST)
        assert site.returncode == 0, site.stderr
        assert "stored for site meadow (1 meter)" in site.stdout

        unknown = flows_tariff(url, "--feeder", "F9", *TARIFF, *RATE_B, *APRIL_FIRST)
        assert unknown.returncode == 2
        assert (
            "feeder F9: feeder = 'F9': the feeder has no active meter with prepayment enabled "
            "in the registry (0 meter(s) listed for it)"
        ) in unknown.stderr
    finally:
        for table in ("service_heads", "service_head_meters", "property_service_heads"):
            conn.execute(f"delete from flows_raw.{table}")


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        pytest.param(
            ("--serial", "EML2999999999", *TARIFF, *RATE_B, *APRIL_FIRST),
            ["meter EML2999999999: serial = 'EML2999999999': not in the meter registry"],
            id="unknown serial",
        ),
        pytest.param(
            ("--serial", PASSIVE, *TARIFF, *RATE_B, *APRIL_FIRST),
            [f"meter {PASSIVE}: mode = 'passive': the meter is not active"],
            id="passive meter",
        ),
        pytest.param(
            ("--serial", NO_PREPAY, *TARIFF, *RATE_B, *APRIL_FIRST),
            [f"meter {NO_PREPAY}: prepay_enabled = 'false': prepayment is disabled"],
            id="prepay disabled",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, *APRIL_FIRST),
            [f"meter {TWIN}: unit_rate_element_b = (not given): the meter is dual-rate"],
            id="missing unit rate B",
        ),
        pytest.param(
            ("--serial", SINGLE, *TARIFF, *RATE_B, *APRIL_FIRST),
            [f"meter {SINGLE}: unit_rate_element_b = '0.15': the meter is single-rate"],
            id="extra unit rate B",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, "--unit-rate-b", "-0.15", *APRIL_FIRST),
            [f"meter {TWIN}: unit_rate_element_b = '-0.15': must not be negative"],
            id="negative rate",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, *RATE_B, "--from", "2020-01-01T00:00"),
            [f"meter {TWIN}: activation_datetime = '2020-01-01T00:00': activation must be in"],
            id="past activation",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, *RATE_B, "--from", f"{SPRING_FORWARD}T01:30"),
            [f"{SPRING_FORWARD}T01:30 does not exist in UK time"],
            id="non-existent local time",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, *RATE_B, "--from", f"{FALL_BACK}T01:30"),
            [f"{FALL_BACK}T01:30 is ambiguous in UK time", "choose a time that happens once"],
            id="ambiguous local time",
        ),
        pytest.param(
            ("--esco", ESCO_MIXED, *TARIFF, *APRIL_FIRST),
            [
                f"ESCO {ESCO_MIXED}: unit_rate_element_b = (not given): 1 of the 2 covered "
                f"meters are twin-element (registers A and B) and need a night rate: give "
                f"--unit-rate-b, which goes to them only ({MIXED_TWIN})"
            ],
            id="mixed esco without a night rate",
        ),
        pytest.param(
            ("--serial", TWIN, *TARIFF, *RATE_B, "--from", "9999-12-31T23:59"),
            [
                f"meter {TWIN}: activation_datetime = '9999-12-31T23:59': after "
                "2136-02-07T06:28:15, the last activation time a meter can store"
            ],
            id="activation no meter can store",
        ),
        pytest.param(
            ("--esco", ESCO_IDLE, *TARIFF, *RATE_B, *APRIL_FIRST),
            [f"ESCO {ESCO_IDLE}: esco = '{ESCO_IDLE}': the ESCO has no active meter"],
            id="esco without active prepay meters",
        ),
        pytest.param(
            ("--esco", ESCO_UNKNOWN, *TARIFF, *RATE_B, *APRIL_FIRST),
            [f"ESCO {ESCO_UNKNOWN}: esco = '{ESCO_UNKNOWN}': the ESCO has no active meter"],
            id="unknown esco",
        ),
    ],
)
def test_an_invalid_request_exits_2_names_the_problem_and_stores_nothing(
    url: str, conn: psycopg.Connection, args: tuple[str, ...], expected: list[str]
) -> None:
    before = stored(conn)
    result = flows_tariff(url, *args)
    assert result.returncode == 2, result.stdout + result.stderr
    for text in expected:
        assert text in result.stderr
    assert result.stderr.rstrip().endswith("nothing stored")
    assert result.stdout == ""
    assert stored(conn) == before


def test_a_mixed_esco_request_gives_the_night_rate_to_its_twin_element_meter_only(
    url: str, conn: psycopg.Connection
) -> None:
    result = flows_tariff(url, "--esco", ESCO_MIXED, *TARIFF, *RATE_B, *APRIL_FIRST)
    assert result.returncode == 0, result.stderr
    request_id = request_id_of(result.stdout)
    assert (
        f"  meter {MIXED_TWIN} ({METER_ID[MIXED_TWIN]}): unit rate A 0.2843 GBP/kWh, B 0.15 GBP/kWh"
    ) in result.stdout.splitlines()
    assert (
        f"  meter {MIXED_SINGLE} ({METER_ID[MIXED_SINGLE]}): unit rate A 0.2843 GBP/kWh "
        "(single rate, no night rate)"
    ) in result.stdout.splitlines()

    covered = conn.execute(
        "select serial, rates_applied, unit_rate_element_b, cancelled_at "
        "from flows_raw.tariff_change_request_meters where request_id = %s order by serial",
        (request_id,),
    ).fetchall()
    assert covered == [
        (MIXED_TWIN, "day_night", Decimal("0.15"), None),
        (MIXED_SINGLE, "single", None, None),
    ]
    # The request keeps the night rate the operator gave.
    (tariff,) = conn.execute(
        "select tariff from flows_raw.tariff_change_requests where request_id = %s",
        (request_id,),
    ).fetchone()
    assert tariff["unit_rate_element_b"] == Decimal("0.15")


def covered_rows(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "select * from flows_raw.tariff_change_request_meters order by request_id, meter_id"
    ).fetchall()


def test_an_activation_past_what_meters_store_leaves_the_pending_change_alone(
    url: str, conn: psycopg.Connection
) -> None:
    pending = flows_tariff(url, "--serial", TWIN_2, *TARIFF, *RATE_B, *APRIL_FIRST)
    assert pending.returncode == 0, pending.stderr
    pending_id = request_id_of(pending.stdout)
    before, covered_before = stored(conn), covered_rows(conn)

    result = flows_tariff(url, "--serial", TWIN_2, *TARIFF, *RATE_B, "--from", "2207-01-01T00:00")
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stdout == ""
    assert result.stderr.splitlines() == [
        f"meter {TWIN_2}: activation_datetime = '2207-01-01T00:00': after 2136-02-07T06:28:15, "
        "the last activation time a meter can store (32-bit seconds since 2000-01-01 on its "
        "clock)",
        "refused: 1 problem(s), nothing stored",
    ]
    assert stored(conn) == before and covered_rows(conn) == covered_before
    # Still the meter's latest request: nothing came after it to supersede it.
    (latest,) = conn.execute(
        "select request_id from flows_raw.tariff_change_requests where meter_id = %s "
        "order by requested_at desc limit 1",
        (METER_ID[TWIN_2],),
    ).fetchone()
    assert latest == pending_id


def test_every_problem_is_printed_one_a_line(url: str, conn: psycopg.Connection) -> None:
    before = stored(conn)
    args = ("--serial", PASSIVE, "--standing-charge", "7", "--unit-rate-a", "0.1234567")
    args += ("--ecredit-availability", "10", "--debt-recovery-rate", "-1")
    args += ("--emergency-credit", "abc", "--from", f"{SPRING_FORWARD}T01:30")
    result = flows_tariff(url, *args)
    assert result.returncode == 2
    lines = result.stderr.splitlines()
    assert [line.split(" = ")[0] for line in lines[:-1]] == [
        f"meter {PASSIVE}: standing_charge",
        f"meter {PASSIVE}: unit_rate_element_a",
        f"meter {PASSIVE}: prepayment_debt_recovery_rate",
        f"meter {PASSIVE}: prepayment_emergency_credit",
        f"meter {PASSIVE}: activation_datetime",
        f"meter {PASSIVE}: mode",
        f"meter {PASSIVE}: unit_rate_element_b",
    ]
    assert lines[-1] == "refused: 7 problem(s), nothing stored"
    assert stored(conn) == before


def test_serial_and_esco_together_is_a_usage_error(url: str, conn: psycopg.Connection) -> None:
    before = stored(conn)
    result = flows_tariff(url, "--serial", TWIN, "--esco", ESCO_TWINS, *TARIFF, *APRIL_FIRST)
    assert result.returncode == 2
    assert "exactly one of --serial, --esco, --site or --feeder" in result.stderr
    assert stored(conn) == before


def test_help_states_the_bounds(url: str) -> None:
    result = flows_tariff(url, "--help")
    assert result.returncode == 0
    assert "standing charge        <= 1.00 per day" in result.stdout
    assert "debt recovery rate     <= 50 per day" in result.stdout


def snapshot_row(meter: dict[str, str], sync_id: uuid.UUID, at: datetime, hardware: str) -> tuple:
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(sync_id=sync_id, meter_id=uuid.UUID(meter["id"]), serial=meter["serial"])
    values.update(polled_at=at, finished_at=at, outcome="ok", hardware=hardware)
    return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


def test_registers_from_the_mart_override_the_registry_hardware(database_url: str) -> None:
    """A meter exchanged for a single-rate model: the registry still says C1.w, the meter says
    B1.w. Before dbt the registry decides (dual-rate); once meter_registers is built, it does."""
    exchanged = registry_row(20, esco=ESCO_TWINS)
    with private_database(database_url) as url:
        load_registry(url, [exchanged])
        single_rate = ("--serial", exchanged["serial"], *TARIFF, *APRIL_FIRST)

        before_dbt = flows_tariff(url, *single_rate)
        assert before_dbt.returncode == 2
        assert "dual-rate (registers A and B, from its registry hardware 'C1.w')" in (
            before_dbt.stderr
        )

        at = datetime.now(UTC) - timedelta(minutes=5)
        sync_id = uuid.uuid4()
        with connection.connect(url) as conn:
            load_sync(
                conn,
                SyncHeader(sync_id, at, at, 1, 0, 0, None),
                [snapshot_row(exchanged, sync_id, at, "B1.w")],
            )
        build = run_dbt(url, "run", "--select", "+meter_registers")
        assert build.returncode == 0, build.stdout[-4000:]
        with connection.connect(url) as conn:
            registers = conn.execute(
                "select element, status from flows.meter_registers order by element"
            ).fetchall()
        assert registers == [("A", "replaced"), ("B", "replaced"), ("SINGLE", "enabled")]

        after_dbt = flows_tariff(url, *single_rate)
        assert after_dbt.returncode == 0, after_dbt.stderr
        with_b = flows_tariff(url, *single_rate, *RATE_B)
        assert with_b.returncode == 2
        assert "single-rate (register SINGLE, from its registers in flows.meter_registers)" in (
            with_b.stderr
        )
        with connection.connect(url) as conn:
            (count,) = conn.execute(
                "select count(*) from flows_raw.tariff_change_requests"
            ).fetchone()
        assert count == 1


ESCO_GONE = "66666666-6666-4666-8666-666666666666"


def test_a_request_whose_meters_left_or_were_deleted_ends_cancelled_after_the_write_path(
    database_url: str,
) -> None:
    """An ESCO-wide change on a twin-element and a single-rate meter; then the registry loses
    the first and marks the second deleted. The write path cancels both changes, once, without
    contacting either meter, and flows.tariff_changes says why, with each meter's rates."""
    twin = registry_row(30, esco=ESCO_GONE)
    single = registry_row(31, esco=ESCO_GONE, hardware="B1.w")
    with private_database(database_url) as url:
        load_registry(url, [twin, single])
        result = flows_tariff(url, "--esco", ESCO_GONE, *TARIFF, *RATE_B, *APRIL_FIRST)
        assert result.returncode == 0, result.stderr
        request_id = request_id_of(result.stdout)

        load_registry(url, [single])  # the twin-element meter leaves the registry
        with connection.connect(url, autocommit=True) as conn:
            conn.execute(
                "update flows_raw.meter_registry set installation_status = 'deleted' "
                "where serial = %s",
                (single["serial"],),
            )
            # A deleted meter takes no new request either.
            refused = flows_tariff(url, "--serial", single["serial"], *TARIFF, *APRIL_FIRST)
            assert refused.returncode == 2
            assert f"meter {single['serial']}: installation_status = 'deleted'" in refused.stderr
            first_run = datetime.now(UTC)
            report = run_write_path(
                conn, QUICK_EMOP.client_settings(), WriteRetryPolicy(), clock=lambda: first_run
            )
            assert report is not None
            assert report.tariff_outcomes == {"cancelled": 2}
            assert report.waiting == {}  # neither meter was planned for, let alone contacted
            assert sorted(reason for _, _, reason in report.problems) == [
                f"request {request_id} cancelled: meter {twin['serial']} left the registry",
                f"request {request_id} cancelled: meter {single['serial']} is deleted "
                "(installation_status 'deleted' in the registry)",
            ]
            # Again: nothing left to cancel, and the first record stands.
            again = run_write_path(
                conn,
                QUICK_EMOP.client_settings(),
                WriteRetryPolicy(),
                clock=lambda: first_run + timedelta(hours=1),
            )
            assert again is not None and again.tariff_outcomes == {} and again.problems == []
            assert conn.execute("select count(*) from flows_raw.tariff_push_log").fetchone() == (0,)
            # Past their activation, cancelled changes are not reported as running late.
            after = datetime(YEAR, 4, 2, tzinfo=UTC)
            assert write_store.stuck_tariff_changes(conn, after) == []

        build = run_dbt(url, "run", "--select", "+tariff_changes")
        assert build.returncode == 0, build.stdout[-4000:]
        with connection.connect(url) as conn:
            rows = conn.execute(
                "select serial, rates_applied, unit_rate_a, unit_rate_b, status, cancelled_at, "
                "cancel_reason from flows.tariff_changes where request_id = %s order by serial",
                (request_id,),
            ).fetchall()
        assert rows == [
            (twin["serial"], "day_night", Decimal("0.2843"), Decimal("0.15"), "cancelled",
             first_run, f"meter {twin['serial']} left the registry"),
            (single["serial"], "single", Decimal("0.2843"), None, "cancelled", first_run,
             f"meter {single['serial']} is deleted (installation_status 'deleted' in the "
             "registry)"),
        ]  # fmt: skip


def test_a_requests_table_from_before_site_requests_is_widened(database_url: str) -> None:
    """A database whose requests table predates site and feeder requests gains the column and
    the wider checks when the raw tables are ensured; its rows stay."""
    with (
        scratch_database(database_url, "flows_tariff_old") as old_url,
        connection.connect(old_url, autocommit=True) as old,
    ):
        old.execute("create schema flows_raw")
        old.execute(
            "create table flows_raw.tariff_change_requests (request_id uuid primary key, "
            "target_kind text not null, meter_id uuid, serial text, esco uuid, "
            "tariff jsonb not null, activation_at timestamptz not null, "
            "requested_by text not null, requested_at timestamptz not null, "
            "check (target_kind in ('meter', 'esco')))"
        )
        insert = (
            "insert into flows_raw.tariff_change_requests (request_id, target_kind, esco, "
            "target_name, tariff, activation_at, requested_by, requested_at) values "
            "(gen_random_uuid(), %s, %s, %s, '{}', now(), 'alice', now())"
        )
        old.execute(
            insert.replace(", target_name", "").replace(", %s, '{}'", ", '{}'"),
            ("esco", ESCO_TWINS),
        )
        ensure_raw_tables(old)
        old.execute(insert, ("site", None, "meadow"))
        with pytest.raises(psycopg.errors.CheckViolation):
            old.execute(insert, ("site", None, None))  # a site request names its site
        assert old.execute(
            "select target_kind from flows_raw.tariff_change_requests order by target_kind"
        ).fetchall() == [("esco",), ("site",)]
