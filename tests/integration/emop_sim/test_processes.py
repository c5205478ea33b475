"""A fleet split across worker processes, and the command-line entry, over real TCP."""

from __future__ import annotations

import asyncio
import os
import socket
import threading
from datetime import UTC, datetime
from pathlib import Path

import pytest

from dagster_project.domain.registry import parse_registry_csv
from dagster_project.emop import objects as o
from dagster_project.emop.data import decode_default
from dagster_project.emop.frame import decode_frame
from dagster_project.simulator import (
    FleetConfig,
    MeterListing,
    ProcessFleet,
    SimulatedFleet,
    run_simulator,
)
from tests.support.wire import exchange, read_frame_bytes, read_request

ORIGIN = datetime(2024, 11, 11, 10, 17, tzinfo=UTC)


async def read_value(item: MeterListing, obj: o.EmopObject):  # type: ignore[no-untyped-def]
    reply = await exchange(item.host, item.port, read_request(obj))
    assert reply.ack_nak == 0
    return obj.decode(decode_default(reply.data).payload)


def test_a_fleet_split_across_two_processes_answers_reads(tmp_path: Path) -> None:
    config = FleetConfig(
        meters=300,
        seed=33,
        port=0,
        freeze_model=True,
        sim_origin=ORIGIN,
        faults={5: "too_soon", 250: "offline"},
        too_soon_gap_seconds=30.0,  # the second read is too soon however loaded the machine
    ).resolved()
    reference = SimulatedFleet(config)  # the same meters, built here and never started
    with ProcessFleet(config, processes=2) as fleet:
        assert len(fleet.pids) == 2 and len(fleet.summaries) == 2
        assert "meters 0-149" in fleet.summaries[0] and "meters 150-299" in fleet.summaries[1]
        listings = fleet.listings
        assert [item.serial for item in listings] == [m.serial for m in reference.meters]

        async def check() -> None:
            for index in (0, 1, 148, 149, 150, 151, 299):
                item, twin = listings[index], reference.meter(index)
                assert await read_value(item, o.SERIAL) == twin.serial
                truth = twin.ground_truth()
                assert await read_value(item, o.PREPAY_BALANCE) == truth.prepay_balance
                assert await read_value(item, o.ELEMENT_A) == truth.element_a
            with pytest.raises(ConnectionRefusedError):
                await asyncio.open_connection(listings[250].host, listings[250].port)
            too_soon = listings[5]
            await read_value(too_soon, o.SERIAL)
            # The meter resets a connection that comes too soon as soon as it accepts it: the
            # reset may reach the client while it is still connecting, or at its first read.
            with pytest.raises((ConnectionResetError, asyncio.IncompleteReadError)):
                reader, writer = await asyncio.open_connection(too_soon.host, too_soon.port)
                try:
                    writer.write(read_request(o.SERIAL))
                    await asyncio.wait_for(read_frame_bytes(reader), 2)
                finally:
                    writer.close()

        asyncio.run(check())
        path = tmp_path / "registry.csv"
        assert fleet.write_registry_csv(path) == 300
        with path.open(newline="") as lines:
            result = parse_registry_csv(lines)
        assert result.rejects == []
        assert [(str(m.ip_address), m.port) for m in result.meters] == [
            (item.host, item.port) for item in listings
        ]
    for pid in fleet.pids:  # the workers are gone
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)


def read_serial_blocking(item: MeterListing) -> str:
    with socket.create_connection((item.host, item.port), timeout=5) as conn:
        conn.sendall(read_request(o.SERIAL))
        raw = b""
        while len(raw) < 2 or len(raw) < raw[1] + 1:
            chunk = conn.recv(512)
            assert chunk
            raw += chunk
    return o.SERIAL.decode(decode_default(decode_frame(raw).data).payload)


@pytest.mark.parametrize("processes", [1, 2])
def test_run_simulator_serves_writes_the_registry_and_stops(tmp_path: Path, processes: int) -> None:
    lines: list[str] = []
    listings: list[MeterListing] = []
    ready = threading.Event()
    stop = threading.Event()
    path = tmp_path / "fleet.csv"

    def on_ready(items: list[MeterListing]) -> None:
        listings.extend(items)
        ready.set()

    config = FleetConfig(meters=20, seed=4, port=0, faulty_fraction=0.1)
    runner = threading.Thread(
        target=run_simulator,
        args=(config, path),
        kwargs={
            "processes": processes,
            "echo": lines.append,
            "ready": on_ready,
            "stop": stop,
            "use_uvloop": processes > 1,
        },
    )
    runner.start()
    try:
        assert ready.wait(60), lines
        healthy = next(item for item in listings if item.fault is None)
        assert read_serial_blocking(healthy) == healthy.serial
    finally:
        stop.set()
        runner.join(30)
    assert not runner.is_alive()
    assert sum(1 for line in lines if line.startswith("pid ")) == processes
    assert any(line.startswith("registry: 20 meters written") for line in lines)
    with path.open(newline="") as rows:
        assert parse_registry_csv(rows).rejects == []
