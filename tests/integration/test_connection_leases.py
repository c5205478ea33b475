"""Per-ESCO connection caps leased from PostgreSQL: shared by separate holders (runs), freed by
the holder, lost by a holder that died once its leases expire; and two bucket runs of the
fleet sync at once keep an ESCO's meters within its cap."""

from __future__ import annotations

import asyncio
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from click.testing import CliRunner
from dagster import materialize

from dagster_project.cli.connections import connections
from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import EmopSettings
from dagster_project.domain.fleet_buckets import BUCKET_RANGE_END_TAG, BUCKET_RANGE_START_TAG
from dagster_project.settings import MAX_CONNECTIONS_PER_ESCO
from dagster_project.simulator import FleetConfig, SimulatedFleet
from dagster_project.warehouse.connection_leases import (
    PostgresConnectionSlots,
    connections_in_use,
    set_limit,
)
from tests.support.fleet_thread import FleetThread
from tests.support.registry import load_registry, registry_row
from tests.support.settings import SYNC, registry_source, warehouse
from tests.support.simulated import QUICK_EMOP, write_fleet_registry


@pytest.fixture
def esco(db: psycopg.Connection) -> Iterator[uuid.UUID]:
    """An ESCO of this test alone; its limit and slots go afterwards."""
    esco = uuid.uuid4()
    yield esco
    db.execute("delete from flows_raw.esco_connection_limits where esco = %s", (esco,))
    db.execute("delete from flows_raw.meter_connection_slots where esco = %s", (esco,))


def holder(url: str, **options) -> PostgresConnectionSlots:
    return PostgresConnectionSlots(url, run_id="test-run", **options)


def test_two_holders_share_one_cap_and_a_slot_given_back_can_be_taken(database_url, esco) -> None:
    group = str(esco)

    async def run() -> list[object]:
        async with (
            holder(database_url, default_limit=2) as one,
            holder(database_url, default_limit=2) as two,
        ):
            first, second = await one.try_take(group), await two.try_take(group)
            refused = await two.try_take(group)
            assert first is not None
            await one.give_back(first)
            again = await two.try_take(group)
            return [first, second, refused, again]

    first, second, refused, again = asyncio.run(run())
    assert {first.number, second.number} == {0, 1}
    assert refused is None
    assert again is not None and again.number == first.number


def test_an_escos_own_limit_wins_over_the_default_and_an_esco_without_any_is_not_capped(
    database_url, db, esco
) -> None:
    set_limit(db, esco, 1)
    uncapped = str(uuid.uuid4())

    async def run():
        async with holder(database_url, default_limit=5) as capped:
            taken = [await capped.try_take(str(esco)) for _ in range(2)]
        async with holder(database_url) as plain:
            free = [await plain.try_take(uncapped) for _ in range(3)]
        return taken, free

    taken, free = asyncio.run(run())
    assert taken[0] is not None and taken[1] is None
    assert all(slot is not None for slot in free)
    # No limit, no rows: an ESCO that is not capped costs the database nothing.
    (rows,) = db.execute(
        "select count(*) from flows_raw.meter_connection_slots where esco = %s", (uncapped,)
    ).fetchone()
    assert rows == 0


def test_a_limit_below_one_is_refused_naming_the_esco(db, esco) -> None:
    with pytest.raises(ValueError, match=str(esco)):
        set_limit(db, esco, 0)


def test_leaving_frees_every_slot_and_the_operator_view_shows_what_is_held(
    database_url, db, esco
) -> None:
    set_limit(db, esco, 3)
    seen: list = []

    async def run() -> None:
        async with holder(database_url) as slots:
            for _ in range(2):
                assert await slots.try_take(str(esco)) is not None
            seen.extend(row for row in connections_in_use(db) if row.esco == esco)

    asyncio.run(run())
    (held,) = seen
    assert (held.max_connections, held.in_use, held.runs) == (3, 2, ("test-run",))
    (after,) = [row for row in connections_in_use(db) if row.esco == esco]
    assert (after.max_connections, after.in_use) == (3, 0)


def test_slots_of_a_holder_that_died_are_free_once_their_lease_expires(
    database_url, db, esco
) -> None:
    # A run that died mid-read leaves its rows held; one lease has run out, one has not.
    db.execute(
        """
        insert into flows_raw.meter_connection_slots
            (esco, slot, holder, run_id, taken_at, expires_at)
        values (%(esco)s, 0, gen_random_uuid(), 'dead', now(), now() - interval '1 second'),
               (%(esco)s, 1, gen_random_uuid(), 'alive', now(), now() + interval '1 hour')
        """,
        {"esco": esco},
    )

    async def run():
        async with holder(database_url, default_limit=2) as slots:
            return [await slots.try_take(str(esco)) for _ in range(2)]

    taken, refused = asyncio.run(run())
    assert taken is not None and taken.number == 0
    assert refused is None


def test_a_holder_renews_its_leases_while_it_runs(database_url, esco) -> None:
    async def run():
        async with holder(database_url, default_limit=1, lease_seconds=0.6) as one:
            assert await one.try_take(str(esco)) is not None
            await asyncio.sleep(1.5)  # two and a half leases: held only if renewed
            async with holder(database_url, default_limit=1) as two:
                return await two.try_take(str(esco))

    assert asyncio.run(run()) is None


def test_two_bucket_runs_at_once_keep_an_escos_meters_within_its_cap(
    tmp_path: Path, db, esco
) -> None:
    # Meters answer after 20 ms and keep their connection for the whole read, so each read
    # holds a connection for a few hundred ms: two runs of 8 meters each overlap throughout.
    config = FleetConfig(port=0, meters=16, seed=77, freeze_model=True, latency_seconds=0.02)
    # A copy of the resource would keep the original's config: Dagster builds it anew from that.
    quick = QUICK_EMOP.model_dump(exclude_unset=True)
    emop = EmopSettings(**quick, reuse_connections=True, max_connections_per_esco=2)
    resources = {
        "warehouse": warehouse(),
        "registry_source": registry_source(),
        "emop": emop,
    }
    keys = SYNC.partitions.get_partition_keys()
    half = len(keys) // 2
    run_ids: list[str] = []

    def sync(buckets: list[str]) -> None:
        tags = {BUCKET_RANGE_START_TAG: buckets[0], BUCKET_RANGE_END_TAG: buckets[-1]}
        result = materialize([SYNC.meter_sync], resources=resources, tags=tags)
        if result.success:
            run_ids.append(result.run_id)

    thread = FleetThread(config)
    with thread as fleet:
        registry = write_fleet_registry(fleet, tmp_path / "registry.csv", esco=str(esco))
        csv_config = {"config": {"csv_path": str(registry)}}
        loaded = materialize(
            [meter_registry_raw],
            resources=resources,
            run_config={"ops": {"flows_raw__meter_registry": csv_config}},
        )
        assert loaded.success
        stop = threading.Event()
        sampling = thread.submit(_peak_open_connections(fleet, stop))
        runs = [threading.Thread(target=sync, args=(part,)) for part in (keys[:half], keys[half:])]
        for run in runs:
            run.start()
        for run in runs:
            run.join(120)
        stop.set()
        peak = sampling.result(10)

    assert len(run_ids) == 2
    (ok,) = db.execute(
        "select count(*) from flows_raw.meter_sync_snapshots "
        "join flows_raw.meter_syncs using (sync_id) "
        "where outcome = 'ok' and run_id = any(%s)",
        (run_ids,),
    ).fetchone()
    assert ok == 16
    assert 1 <= peak <= 2
    # The runs leased the ESCO's two slots, and gave them back.
    slots = db.execute(
        "select slot, holder from flows_raw.meter_connection_slots where esco = %s order by slot",
        (esco,),
    ).fetchall()
    assert slots == [(0, None), (1, None)]


async def _peak_open_connections(fleet: SimulatedFleet, stop: threading.Event) -> int:
    """The most connections the fleet's meters had open at once until `stop`, sampled on the
    loop that serves them."""
    peak = 0
    while not stop.is_set():
        peak = max(peak, sum(1 for c in fleet.connections if not c.closed))
        await asyncio.sleep(0.001)
    return peak


def test_operators_set_and_clear_an_escos_limit_and_see_the_slots_held(
    database_url, db, esco
) -> None:
    cli = CliRunner()
    unknown = cli.invoke(connections, ["limit", str(esco), "3"])
    assert unknown.exit_code == 2 and str(esco) in unknown.output  # no meter of it registered
    load_registry(database_url, [registry_row(0, esco=str(esco))])
    set_to_3 = cli.invoke(connections, ["limit", str(esco), "3"])
    assert set_to_3.exit_code == 0, set_to_3.output
    assert f"ESCO {esco}: at most 3" in set_to_3.output

    async def show_while_held() -> str:
        async with holder(database_url) as slots:
            assert await slots.try_take(str(esco)) is not None
            return cli.invoke(connections, [], env={MAX_CONNECTIONS_PER_ESCO: "50"}).output

    shown = asyncio.run(show_while_held())
    assert "default limit (FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO): 50" in shown
    (line,) = [line for line in shown.splitlines() if line.startswith(str(esco))]
    assert line.split()[1:3] == ["3", "1"] and line.endswith("test-run")

    refused = cli.invoke(connections, ["limit", str(esco), "0"])
    assert refused.exit_code == 2 and "0" in refused.output
    assert cli.invoke(connections, ["limit", str(esco)]).exit_code == 2  # neither N nor --clear
    cleared = cli.invoke(connections, ["limit", str(esco), "--clear"])
    assert cleared.exit_code == 0 and "default applies" in cleared.output
    assert not any(row.esco == esco for row in connections_in_use(db))


def test_a_holder_carries_on_after_its_database_connection_drops(database_url, db, esco) -> None:
    async def run():
        async with holder(database_url, default_limit=2) as slots:
            first = await slots.try_take(str(esco))
            # The server ends every other session of this database (a restart, a failover).
            db.execute(
                "select pg_terminate_backend(pid) from pg_stat_activity "
                "where datname = current_database() and pid <> pg_backend_pid()"
            )
            await asyncio.sleep(0.1)
            assert first is not None
            await slots.give_back(first)
            return [await slots.try_take(str(esco)) for _ in range(3)]

    taken = asyncio.run(run())
    assert [slot is not None for slot in taken] == [True, True, False]
