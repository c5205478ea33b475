"""Per-ESCO connection caps benchmark: what leasing every meter read's connection slot from
PostgreSQL costs, and whether a cap that binds holds and keeps the fleet moving.

One simulated fleet, its meters dealt round-robin to --escos ESCOs, is read three times in this
process, each time at the same concurrency:

  baseline   no caps: the client's own limit of meters in progress only
  lease      every read leases a slot from PostgreSQL, under a cap no ESCO reaches (the pure
             cost of the leases: two statements per meter)
  binding    two clients (two runs) each read half the fleet, sharing a cap per ESCO that
             allows half the concurrency in all

and prints wall time, CPU time, the ratio to the baseline, the slot statements per meter, and the
most slots any ESCO held at once against its cap. Run by hand; the database is a scratch one on
the embedded server of FLOWS_STATE_DIR (or on FLOWS_DATABASE_URL), dropped afterwards:

    FLOWS_STATE_DIR=/tmp/flows-bench-caps .venv/bin/python benchmarks/connection_caps.py
"""

from __future__ import annotations

import argparse
import asyncio
import math
import time
import uuid
from collections import Counter
from dataclasses import dataclass

from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.connection_slots import ConnectionSlots, Slot
from dagster_project.emop.runner import run
from dagster_project.emop.state import MeterEndpoint
from dagster_project.settings import Settings
from dagster_project.simulator import FleetConfig, serve_fleet_processes
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection_leases import PostgresConnectionSlots
from dagster_project.warehouse.embedded import EmbeddedServer


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=5_000)
    parser.add_argument("--escos", type=int, default=10)
    parser.add_argument("--concurrency", type=int, default=500)
    parser.add_argument("--rtt", type=float, default=0.05, help="simulated round trip, seconds")
    parser.add_argument("--gap", type=float, default=0.2, help="spacing between requests, seconds")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


class CountedSlots:
    """ConnectionSlots that count the statements asked of them and the slots held per group."""

    def __init__(self, slots: ConnectionSlots, held: Counter[str], peak: Counter[str]) -> None:
        self._slots = slots
        self.held = held
        self.peak = peak
        self.statements = 0

    async def try_take(self, group: str) -> Slot | None:
        self.statements += 1
        slot = await self._slots.try_take(group)
        if slot is not None:
            self.held[group] += 1
            self.peak[group] = max(self.peak[group], self.held[group])
        return slot

    async def give_back(self, slot: Slot) -> None:
        self.statements += 1
        self.held[slot.group] -= 1
        await self._slots.give_back(slot)


@dataclass
class Outcome:
    name: str
    wall_seconds: float
    cpu_seconds: float
    failed: int
    statements: int
    peak: Counter[str]


async def read_all(
    name: str,
    parts: list[list[MeterEndpoint]],
    group_of: dict[MeterEndpoint, str],
    settings: ClientSettings,
    open_slots,
) -> Outcome:
    held: Counter[str] = Counter()
    peak: Counter[str] = Counter()
    counted: list[CountedSlots] = []
    wall, cpu = time.perf_counter(), time.process_time()

    async def one_run(part: list[MeterEndpoint]) -> int:
        if open_slots is None:
            async with EmopClient(settings) as client:
                states = await client.read_fleet(part)
            return sum(not state.ok for state in states)
        async with open_slots() as leased:
            slots = CountedSlots(leased, held, peak)
            counted.append(slots)
            async with EmopClient(settings, slots=slots) as client:
                states = await client.read_fleet(part, group_of=group_of.get)
        return sum(not state.ok for state in states)

    failed = sum(await asyncio.gather(*(one_run(part) for part in parts)))
    return Outcome(
        name,
        time.perf_counter() - wall,
        time.process_time() - cpu,
        failed,
        sum(slots.statements for slots in counted),
        peak,
    )


def main() -> None:
    args = parse_args()
    config = FleetConfig(
        meters=args.meters, seed=args.seed, latency_seconds=args.rtt, min_gap_seconds=0.0
    )
    settings = ClientSettings(
        min_gap_seconds=args.gap, max_concurrent_meters=args.concurrency, timeout_seconds=30
    )
    escos = [str(uuid.uuid4()) for _ in range(args.escos)]
    # Two runs together may hold half the concurrency: each ESCO gets its share of that.
    binding_cap = max(1, args.concurrency // 2 // args.escos)
    loose_cap = args.concurrency  # more than any ESCO can reach in one run

    deployment = Settings.from_environment()
    embedded = EmbeddedServer(deployment.state_dir)
    # Asked before resolve_database starts the server, so that one started here is stopped.
    was_running = embedded.status().running
    server = connection.resolve_database(deployment)
    processes = max(1, math.ceil((args.meters + args.concurrency) / 12_000))
    try:
        with (
            connection.scratch_database(server.url, "flows_bench") as url,
            serve_fleet_processes(config, processes=processes) as endpoints,
        ):
            group_of = {meter: escos[i % len(escos)] for i, meter in enumerate(endpoints)}
            halves = [endpoints[0::2], endpoints[1::2]]

            def leased(cap: int):
                return lambda: PostgresConnectionSlots(url, default_limit=cap, run_id="bench")

            outcomes = [
                run(read_all("baseline", [endpoints], group_of, settings, None)),
                run(read_all("lease", [endpoints], group_of, settings, leased(loose_cap))),
                run(read_all("binding", halves, group_of, settings, leased(binding_cap))),
            ]
    finally:
        if server.embedded and not was_running:
            embedded.stop()

    ideal_read = 24 * args.rtt + 23 * args.gap
    print(f"meters {args.meters}, {args.escos} ESCOs, concurrency {args.concurrency}")
    print(f"one read: 24 requests, round trip {args.rtt:g} s, gap {args.gap:g} s")
    print(
        f"ideal fleet time at full concurrency: {args.meters * ideal_read / args.concurrency:.1f} s"
    )
    print(f"caps: lease {loose_cap} per ESCO (never reached), binding {binding_cap} per ESCO")
    baseline = outcomes[0]
    print(
        f"{'case':10} {'wall s':>8} {'ratio':>6} {'cpu s':>7} {'ratio':>6} {'failed':>6} "
        f"{'slot stmts/meter':>16} {'peak/ESCO':>9}"
    )
    for outcome in outcomes:
        peak = max(outcome.peak.values(), default=0)
        print(
            f"{outcome.name:10} {outcome.wall_seconds:8.1f} "
            f"{outcome.wall_seconds / baseline.wall_seconds:6.2f} {outcome.cpu_seconds:7.1f} "
            f"{outcome.cpu_seconds / baseline.cpu_seconds:6.2f} {outcome.failed:6d} "
            f"{outcome.statements / args.meters:16.2f} {peak or '-':>9}"
        )
    expected = args.escos * binding_cap / args.concurrency
    print(
        f"binding: the cap allows {expected:.2f} of the concurrency, so about "
        f"{1 / expected:.1f}x the baseline's wall time is the most it should take"
    )


if __name__ == "__main__":
    main()
