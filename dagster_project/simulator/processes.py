"""A large fleet split across worker processes, each serving a contiguous slice of meter indices.

One process can hold about (open-files limit - 1000) meters, since every meter has its own
socket; with this machine's limit of 20 000 that is 19 000, and the default slice is 16 000.
Every worker builds its slice from the same resolved config (seed and time origins), so the
meters are the same as in one process. Workers are plain `python -m` subprocesses (so no
caller's main module is re-imported): they read their slice from stdin, report their ports on
stdout when listening, and stop when stdin closes (the parent stopping or dying) or on SIGTERM.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import os
import pickle
import select
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from types import TracebackType
from typing import BinaryIO

from dagster_project.emop.state import MeterEndpoint
from dagster_project.simulator.config import FleetConfig
from dagster_project.simulator.identity import MeterSpec, build_specs, esco_ids
from dagster_project.simulator.infrastructure_out import simulated_move_at
from dagster_project.simulator.registry_out import RegistryEntry, write_registry_csv
from dagster_project.simulator.server import MeterListing, SimulatedFleet, max_meters_per_process

DEFAULT_METERS_PER_PROCESS = 16_000
WORKER_MODULE = f"{__package__}.worker"


def plan_slices(meters: int, processes: int) -> list[range]:
    """`processes` contiguous, nearly equal slices of range(meters)."""
    processes = max(1, min(processes, meters or 1))
    size, extra = divmod(meters, processes)
    slices, start = [], 0
    for n in range(processes):
        stop = start + size + (1 if n < extra else 0)
        slices.append(range(start, stop))
        start = stop
    return slices


def processes_needed(meters: int, meters_per_process: int = DEFAULT_METERS_PER_PROCESS) -> int:
    return max(1, math.ceil(meters / max(1, meters_per_process)))


def run_event_loop(main: object, use_uvloop: bool = True) -> object:
    """asyncio.run(main), on uvloop when it is installed and wanted (faster accept path)."""
    if use_uvloop:
        try:
            import uvloop
        except ImportError:
            pass
        else:
            return uvloop.run(main)  # type: ignore[arg-type]
    return asyncio.run(main)  # type: ignore[arg-type]


def _send_message(stream: BinaryIO, message: object) -> None:
    payload = pickle.dumps(message)
    stream.write(len(payload).to_bytes(4, "big") + payload)
    stream.flush()


def _read_exact(fd: int, size: int, deadline: float | None) -> bytes:
    data = bytearray()
    while len(data) < size:
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or not select.select([fd], [], [], remaining)[0]:
                raise TimeoutError
        chunk = os.read(fd, size - len(data))
        if not chunk:
            raise EOFError
        data += chunk
    return bytes(data)


def _read_message(fd: int, deadline: float | None = None) -> object:
    size = int.from_bytes(_read_exact(fd, 4, deadline), "big")
    return pickle.loads(_read_exact(fd, size, deadline))


def worker_main() -> None:
    """A worker process: read (config, indices, use_uvloop) from stdin, serve that slice,
    report on stdout, stop when stdin closes or on SIGTERM (run as `python -m ...worker`)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the parent decides when to stop
    report = os.fdopen(os.dup(sys.stdout.fileno()), "wb")
    sys.stdout = sys.stderr  # nothing else may write into the report pipe
    config, indices, use_uvloop = _read_message(sys.stdin.fileno())
    run_event_loop(_worker(config, indices, report), use_uvloop)


async def _worker(config: FleetConfig, indices: range, report: BinaryIO) -> None:
    fleet = SimulatedFleet(config, indices)
    try:
        await fleet.start()
    except Exception as error:
        _send_message(report, ("error", f"meters {indices.start}-{indices.stop - 1}: {error}"))
        return
    try:
        _send_message(
            report, ("ready", os.getpid(), [m.port for m in fleet.meters], fleet.summary())
        )
        loop = asyncio.get_running_loop()
        done = asyncio.Event()
        stdin = sys.stdin.fileno()
        loop.add_reader(stdin, done.set)  # the parent closed our stdin (or wrote): stop
        loop.add_signal_handler(signal.SIGTERM, done.set)
        await done.wait()
        loop.remove_reader(stdin)
    finally:
        await fleet.stop()


class ProcessFleet:
    """Serve `config.meters` meters from several processes (use as a context manager).

    After start(): `listings` (one MeterListing per meter, index order) and `summaries` (one
    line per process).
    """

    def __init__(
        self,
        config: FleetConfig,
        *,
        processes: int | None = None,
        meters_per_process: int = DEFAULT_METERS_PER_PROCESS,
        use_uvloop: bool = True,
        start_timeout: float = 600.0,
    ) -> None:
        self.config = config.resolved()
        count = processes or processes_needed(config.meters, meters_per_process)
        self.slices = plan_slices(config.meters, count)
        biggest = max(len(s) for s in self.slices)
        if biggest > max_meters_per_process():
            raise ValueError(
                f"{biggest} meters in one process exceed its socket limit "
                f"({max_meters_per_process()}); use more processes"
            )
        self.use_uvloop = use_uvloop
        self.start_timeout = start_timeout
        self.listings: list[MeterListing] = []
        self.summaries: list[str] = []
        self.pids: list[int] = []
        self._workers: list[subprocess.Popen[bytes]] = []
        self._specs: list[MeterSpec] = []
        self._ports: list[int] = []

    def __enter__(self) -> ProcessFleet:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

    def start(self) -> None:
        env = dict(os.environ)
        root = str(Path(__file__).resolve().parents[3])  # the checkout holding dagster_project
        env["PYTHONPATH"] = os.pathsep.join(filter(None, (root, env.get("PYTHONPATH"))))
        deadline = time.monotonic() + self.start_timeout
        ports: dict[int, list[int]] = {}
        try:
            for indices in self.slices:
                process = subprocess.Popen(
                    [sys.executable, "-m", WORKER_MODULE],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    env=env,
                )
                self._workers.append(process)
                assert process.stdin is not None
                _send_message(process.stdin, (self.config, indices, self.use_uvloop))
            self._specs = build_specs(self.config)  # while the workers start
            for process, indices in zip(self._workers, self.slices, strict=True):
                ports[indices.start] = self._await_ready(process, deadline)
        except BaseException:
            self.stop()
            raise
        self._build_listings(ports)

    def _await_ready(self, process: subprocess.Popen[bytes], deadline: float) -> list[int]:
        assert process.stdout is not None
        try:
            message = _read_message(process.stdout.fileno(), deadline)
        except TimeoutError:
            raise RuntimeError(f"simulator process {process.pid} did not start in time") from None
        except EOFError:
            raise RuntimeError(
                f"simulator process {process.pid} exited ({process.wait()}) before listening"
            ) from None
        assert isinstance(message, tuple)
        if message[0] == "error":
            raise RuntimeError(f"simulator process {process.pid} failed: {message[1]}")
        _, pid, slice_ports, summary = message
        self.pids.append(pid)
        self.summaries.append(summary)
        return slice_ports

    def _build_listings(self, ports: dict[int, list[int]]) -> None:
        specs = self._specs
        self._ports = [port for indices in self.slices for port in ports[indices.start]]
        self.listings = [
            MeterListing(s.index, s.serial, s.host, port, s.fault, s.address, s.hardware)
            for s, port in zip(specs, self._ports, strict=True)
        ]

    def alive(self) -> bool:
        return all(process.poll() is None for process in self._workers)

    def write_registry_csv(self, path: Path | str) -> int:
        entries = (
            RegistryEntry(spec, port, spec.dst_enabled, spec.prepay_enabled)
            for spec, port in zip(self._specs, self._ports, strict=True)
        )
        return write_registry_csv(
            Path(path),
            entries,
            escos=esco_ids(self.config),
            move_at=simulated_move_at(self.config),
        )

    def stop(self, timeout: float = 15.0) -> None:
        """Close every worker's stdin (they stop and exit), then wait; terminate stragglers."""
        for process in self._workers:
            if process.stdin is not None:
                with contextlib.suppress(OSError):
                    process.stdin.close()
        for process in self._workers:
            try:
                process.wait(timeout)
            except subprocess.TimeoutExpired:
                process.terminate()
                try:
                    process.wait(5)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()
            if process.stdout is not None:
                process.stdout.close()
        self._workers = []


@contextmanager
def serve_fleet_processes(
    config: FleetConfig,
    *,
    processes: int | None = None,
    meters_per_process: int = DEFAULT_METERS_PER_PROCESS,
    use_uvloop: bool = True,
) -> Iterator[list[MeterEndpoint]]:
    """Serve the fleet from worker processes for the block; yield each meter's endpoint."""
    with ProcessFleet(
        config,
        processes=processes,
        meters_per_process=meters_per_process,
        use_uvloop=use_uvloop,
    ) as fleet:
        yield [MeterEndpoint(item.host, item.port, item.serial) for item in fleet.listings]
