"""Fleet poll benchmark: read_state of N simulated meters with a round trip and the spacing rule.

Prints meters/s, requests/s and efficiency = achieved rate / ideal rate, where the ideal rate
is the concurrency divided by the time one meter's full read must take (its requests' round
trips plus the gaps between them). A single-meter read measured in the same run is printed as
the baseline. Run by hand, e.g.:

    .venv/bin/python benchmarks/fleet_poll.py --meters 10000 --rtt 0.3
"""

from __future__ import annotations

import argparse
import math
import time
from collections import Counter

from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.runner import run
from dagster_project.emop.state import MeterEndpoint
from dagster_project.simulator import FleetConfig, serve_fleet_processes

#: read_state's requests: 11 single objects, 6 active and 7 future tariff objects.
REQUESTS_PER_READ = 24


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--meters", type=int, default=10_000)
    parser.add_argument("--rtt", type=float, default=0.3, help="simulated round trip, seconds")
    parser.add_argument("--gap", type=float, default=2.0, help="spacing between requests, seconds")
    parser.add_argument(
        "--concurrency",
        type=int,
        default=0,
        help="meters in progress at once (default: enough to finish in one 15-minute cycle "
        "with room to spare, at most 8000)",
    )
    parser.add_argument("--reuse-connections", action="store_true")
    parser.add_argument("--seed", type=int, default=1)
    return parser.parse_args()


def ideal_read_seconds(rtt: float, gap: float) -> float:
    return REQUESTS_PER_READ * rtt + (REQUESTS_PER_READ - 1) * gap


async def poll(endpoints: list[MeterEndpoint], settings: ClientSettings) -> tuple[float, Counter]:
    async with EmopClient(settings) as client:
        started = time.perf_counter()
        states = await client.read_fleet(endpoints)
        elapsed = time.perf_counter() - started
    failures: Counter = Counter()
    for state in states:
        if state.first_error is not None:
            error = state.first_error
            failures[f"{error.kind} on {error.object_name}: {error.message}"] += 1
    return elapsed, failures


def main() -> None:
    args = parse_args()
    ideal_one = ideal_read_seconds(args.rtt, args.gap)
    concurrency = args.concurrency or min(8000, math.ceil(args.meters * ideal_one / 600))
    config = FleetConfig(
        meters=args.meters,
        seed=args.seed,
        faulty_fraction=0.0,
        latency_seconds=args.rtt,
        min_gap_seconds=0.0,
    )
    settings = ClientSettings(
        min_gap_seconds=args.gap,
        max_concurrent_meters=concurrency,
        reuse_connections=args.reuse_connections,
        timeout_seconds=30,
    )
    # Each simulator process holds one listening socket per meter plus one per connection in
    # progress, under a 20,000 file-descriptor limit: leave room for the connections.
    processes = max(1, math.ceil((args.meters + concurrency) / 12_000))
    with serve_fleet_processes(config, processes=processes) as endpoints:
        baseline, _ = run(poll(endpoints[:1], settings))
        elapsed, failed = run(poll(endpoints, settings))

    meters_per_s = args.meters / elapsed
    ideal_rate = concurrency / ideal_one
    print(f"meters                 {args.meters}")
    print(f"concurrency            {concurrency}")
    print(f"round trip / gap       {args.rtt:g} s / {args.gap:g} s")
    mode = "one per read" if args.reuse_connections else "one per request"
    print(f"connections            {mode}")
    print(f"one meter, ideal       {ideal_one:.2f} s")
    print(f"one meter, measured    {baseline:.2f} s  (baseline, same run)")
    print(f"fleet wall time        {elapsed:.1f} s  ({sum(failed.values())} meters with errors)")
    for cause, count in failed.most_common(5):
        print(f"  {count:>6} x {cause}")
    if failed:
        print("  (meters with errors finish early: efficiency is not comparable)")
    print(f"meters/s               {meters_per_s:.1f}")
    print(f"requests/s             {meters_per_s * REQUESTS_PER_READ:.0f}")
    print(f"ideal meters/s         {ideal_rate:.1f}")
    print(f"efficiency             {meters_per_s / ideal_rate:.3f}")
    print(f"vs measured baseline   {meters_per_s / (concurrency / baseline):.3f}")
    print(f"100,000 meters at this rate: {100_000 / meters_per_s / 60:.1f} min")


if __name__ == "__main__":
    main()
