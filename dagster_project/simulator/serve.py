"""The simulator's command-line entry: start the fleet (one or several processes), write the
registry CSV, print one line per process, and serve until SIGINT/SIGTERM."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import threading
from collections.abc import Callable
from pathlib import Path

from dagster_project.simulator.clock import utc
from dagster_project.simulator.config import FleetConfig
from dagster_project.simulator.processes import (
    DEFAULT_METERS_PER_PROCESS,
    ProcessFleet,
    processes_needed,
    run_event_loop,
)
from dagster_project.simulator.server import MeterListing, SimulatedFleet

Echo = Callable[[str], None]
Ready = Callable[[list[MeterListing]], None]


def describe(config: FleetConfig, processes: int) -> str:
    config = config.resolved()
    sim_now = utc(config.clock().sim_seconds()).isoformat(timespec="seconds")
    frozen = (
        f", model frozen at {config.freeze_at.isoformat(timespec='seconds')}"
        if config.freeze_model and config.freeze_at
        else ""
    )
    return (
        f"EMOP simulator: {config.meters} meters, seed {config.seed}, {processes} process(es), "
        f"faulty {config.faulty_fraction:.1%}, latency {config.latency_seconds}s, "
        f"min gap {config.min_gap_seconds}s, time x{config.time_speed} "
        f"(simulated now {sim_now}{frozen})"
    )


async def serve_fleet(
    config: FleetConfig,
    registry_out: Path | None = None,
    ready: Ready | None = None,
    *,
    echo: Echo = print,
    stop: asyncio.Event | threading.Event | None = None,
) -> None:
    """Serve the whole fleet from this process until `stop` is set or SIGINT/SIGTERM."""
    async with SimulatedFleet(config) as fleet:
        echo(describe(fleet.config, 1))
        echo(fleet.summary())
        if registry_out is not None:
            rows = fleet.write_registry_csv(registry_out)
            echo(f"registry: {rows} meters written to {registry_out}")
        if ready is not None:
            ready(fleet.listings())
        await _wait_for_stop(stop)
        echo("EMOP simulator stopping")


async def _wait_for_stop(stop: asyncio.Event | threading.Event | None) -> None:
    loop = asyncio.get_running_loop()
    stopped = asyncio.Event()
    installed = []
    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stopped.set)
            installed.append(sig)
        except (NotImplementedError, RuntimeError, ValueError):
            pass  # not the main thread: rely on `stop`
    try:
        if isinstance(stop, asyncio.Event):
            waiter = asyncio.ensure_future(stop.wait())
            signalled = asyncio.ensure_future(stopped.wait())
            await asyncio.wait((waiter, signalled), return_when=asyncio.FIRST_COMPLETED)
            waiter.cancel()
            signalled.cancel()
        else:
            while not stopped.is_set() and not (stop is not None and stop.is_set()):
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stopped.wait(), 0.5)
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def run_simulator(
    config: FleetConfig,
    registry_out: Path | None = None,
    *,
    processes: int | None = None,
    meters_per_process: int = DEFAULT_METERS_PER_PROCESS,
    use_uvloop: bool = True,
    echo: Echo = print,
    ready: Ready | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Run a simulated fleet until SIGINT/SIGTERM (or `stop` is set); blocks.

    More than `meters_per_process` meters (or `processes` > 1) are served by worker processes.
    """
    config = config.resolved()
    count = processes or processes_needed(config.meters, meters_per_process)
    if count <= 1:
        run_event_loop(serve_fleet(config, registry_out, ready, echo=echo, stop=stop), use_uvloop)
        return
    stop = stop or threading.Event()
    previous = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            previous[sig] = signal.signal(sig, lambda *_: stop.set())
    try:
        with ProcessFleet(config, processes=count, use_uvloop=use_uvloop) as fleet:
            echo(describe(config, count))
            for line in fleet.summaries:
                echo(line)
            if registry_out is not None:
                rows = fleet.write_registry_csv(registry_out)
                echo(f"registry: {rows} meters written to {registry_out}")
            if ready is not None:
                ready(fleet.listings)
            while not stop.wait(1.0):
                if not fleet.alive():
                    echo("EMOP simulator: a worker process exited; stopping")
                    break
            echo("EMOP simulator stopping")
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
