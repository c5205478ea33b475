"""`flows emop`: read one meter from the command line, as a table or as JSON."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Coroutine
from dataclasses import asdict, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import click

from dagster_project.emop import objects as o
from dagster_project.emop import runner
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.errors import EmopError
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.emop.tariffs import Tariff

COMMANDS = (
    "state",
    "prepay_balance",
    "csq",
    "clock",
    "tariffs_active",
    "tariffs_future",
    "registers",
    "voltage",
    "profile_log_1",
    "event_log",
)


def parse_timestamp(text: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@click.command("emop")
@click.option("--host", required=True, help="Meter address.")
@click.option("--port", default=8080, show_default=True)
@click.option("--serial", default=None, help="Serial, only to name the meter in messages.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option("--timeout", default=10.0, show_default=True, help="Seconds per exchange.")
@click.option("--attempts", default=3, show_default=True, help="Tries per request.")
@click.option("--gap", default=2.0, show_default=True, help="Seconds between requests.")
@click.option("--from", "start", default=None, help="profile_log_1: first record time (ISO).")
@click.option("--to", "end", default=None, help="profile_log_1: end time (default: +2 h).")
@click.option("--pages", default=1, show_default=True, help="event_log: pages of 10 events.")
@click.argument("command", type=click.Choice(COMMANDS))
def emop(
    host: str,
    port: int,
    serial: str | None,
    as_json: bool,
    timeout: float,
    attempts: int,
    gap: float,
    start: str | None,
    end: str | None,
    pages: int,
    command: str,
) -> None:
    """Read COMMAND from the meter at --host over EMOP."""
    settings = ClientSettings(timeout_seconds=timeout, attempts=attempts, min_gap_seconds=gap)
    meter = MeterEndpoint(host=host, port=port, serial=serial)
    if command == "profile_log_1" and start is None:
        raise click.UsageError("profile_log_1 needs --from TIMESTAMP")

    async def run() -> Any:
        async with EmopClient(settings) as client:
            return await _COMMANDS[command](client, meter, start, end, pages)

    try:
        result = runner.run(run())
    except EmopError as error:
        click.echo(f"error: {error}", err=True)
        sys.exit(1)

    click.echo(json.dumps(to_plain(result), indent=2) if as_json else render(result))
    if isinstance(result, MeterState) and result.errors:
        for name, error in result.errors.items():
            click.echo(f"error reading {name}: {error}", err=True)
        sys.exit(1)


Handler = Callable[
    [EmopClient, MeterEndpoint, str | None, str | None, int], Coroutine[Any, Any, Any]
]


async def _state(client: EmopClient, meter: MeterEndpoint, *_: Any) -> MeterState:
    return await client.read_state(meter)


async def _balance(client: EmopClient, meter: MeterEndpoint, *_: Any) -> dict[str, Any]:
    return {"prepay_balance": await client.read(meter, o.PREPAY_BALANCE)}


async def _csq(client: EmopClient, meter: MeterEndpoint, *_: Any) -> dict[str, Any]:
    signal = await client.read(meter, o.CSQ)
    return {"csq": signal.csq, "operator": signal.operator}


async def _clock(client: EmopClient, meter: MeterEndpoint, *_: Any) -> dict[str, Any]:
    meter_time, drift = await client.read_clock(meter)
    return {"clock": meter_time, "clock_time_diff_seconds": drift}


async def _tariffs_active(client: EmopClient, meter: MeterEndpoint, *_: Any) -> Tariff | None:
    return await client.read_tariff(meter, future=False)


async def _tariffs_future(client: EmopClient, meter: MeterEndpoint, *_: Any) -> Tariff | None:
    return await client.read_tariff(meter, future=True)


async def _registers(client: EmopClient, meter: MeterEndpoint, *_: Any) -> dict[str, Any]:
    return {
        "element_a": await client.read(meter, o.ELEMENT_A),
        "element_b": await client.read(meter, o.ELEMENT_B),
    }


async def _voltage(client: EmopClient, meter: MeterEndpoint, *_: Any) -> dict[str, Any]:
    return {"voltage": await client.read(meter, o.VOLTAGE)}


async def _profile_log_1(
    client: EmopClient, meter: MeterEndpoint, start: str | None, end: str | None, _: int
) -> list[Any]:
    assert start is not None
    first = parse_timestamp(start)
    last = parse_timestamp(end) if end else first + timedelta(hours=2)
    return await client.read_profile_range(meter, 1, first, last, twin_element=False)


async def _event_log(
    client: EmopClient, meter: MeterEndpoint, _start: Any, _end: Any, pages: int
) -> list[Any]:
    entries: list[Any] = []
    for page in range(pages):
        entries += await client.read_event_log_page(meter, page)
    return entries


_COMMANDS: dict[str, Handler] = {
    "state": _state,
    "prepay_balance": _balance,
    "csq": _csq,
    "clock": _clock,
    "tariffs_active": _tariffs_active,
    "tariffs_future": _tariffs_future,
    "registers": _registers,
    "voltage": _voltage,
    "profile_log_1": _profile_log_1,
    "event_log": _event_log,
}


def to_plain(value: Any) -> Any:
    """JSON-ready: Decimals as numbers, datetimes as ISO strings, dataclasses as objects."""
    if isinstance(value, MeterState):
        return value.to_json()
    if isinstance(value, Tariff):
        return value.to_json()
    if is_dataclass(value) and not isinstance(value, type):
        return {key: to_plain(item) for key, item in asdict(value).items()}
    if isinstance(value, dict):
        return {key: to_plain(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_plain(item) for item in value]
    if isinstance(value, Decimal):
        return float(value)
    if isinstance(value, datetime):
        return value.isoformat()
    return value


def render(value: Any) -> str:
    """A readable table: key/value rows for one record, columns for a list of records."""
    plain = to_plain(value)
    if plain is None:
        return "(none scheduled)"
    if isinstance(plain, list):
        if not plain:
            return "(no records)"
        columns = list(plain[0])
        rows = [[_cell(row.get(column)) for column in columns] for row in plain]
        widths = [
            max(len(column), *(len(row[i]) for row in rows)) for i, column in enumerate(columns)
        ]
        lines = [
            "  ".join(column.ljust(width) for column, width in zip(columns, widths, strict=True))
        ]
        lines += [
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True))
            for row in rows
        ]
        return "\n".join(lines)
    flat = dict(_flatten(plain))
    width = max(len(key) for key in flat)
    return "\n".join(f"{key.ljust(width)}  {_cell(item)}" for key, item in flat.items())


def _flatten(value: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    rows: list[tuple[str, Any]] = []
    for key, item in value.items():
        if isinstance(item, dict) and item:
            rows += _flatten(item, f"{prefix}{key}.")
        else:
            rows.append((f"{prefix}{key}", item))
    return rows


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, dict):
        return json.dumps(value) if value else "-"
    return str(value)


@click.command("simulate")
@click.option("--meters", default=100, show_default=True, help="Meters in the fleet.")
@click.option("--seed", default=1, show_default=True, help="Same seed, same fleet.")
@click.option(
    "--registry-out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the fleet's registry CSV here (load it with FLOWS_REGISTRY_CSV).",
)
@click.option("--faulty-fraction", default=0.0, show_default=True, help="Share of faulty meters.")
@click.option("--latency", default=0.0, show_default=True, help="Seconds before each answer.")
@click.option("--speed", default=1.0, show_default=True, help="Simulated time per wall second.")
@click.option(
    "--min-gap", default=0.0, show_default=True, help="Meters reset requests sooner than this."
)
@click.option(
    "--addressing",
    type=click.Choice(["ip", "ports"]),
    default="ip",
    show_default=True,
    help="ip: each meter on its own 127.x.y.z:8080; ports: 127.0.0.1 with a port per meter.",
)
@click.option("--base-port", default=20000, show_default=True, help="First port (ports mode).")
def simulate(
    meters: int,
    seed: int,
    registry_out: str | None,
    faulty_fraction: float,
    latency: float,
    speed: float,
    min_gap: float,
    addressing: str,
    base_port: int,
) -> None:
    """Serve a fleet of simulated meters on loopback until Ctrl-C."""
    from pathlib import Path

    from dagster_project.simulator import FleetConfig, run_simulator

    try:
        config = FleetConfig(
            meters=meters,
            seed=seed,
            faulty_fraction=faulty_fraction,
            latency_seconds=latency,
            time_speed=speed,
            min_gap_seconds=min_gap,
            addressing=addressing,
            base_port=base_port,
        )
    except ValueError as error:
        raise click.UsageError(str(error)) from None
    run_simulator(config, Path(registry_out) if registry_out else None, echo=click.echo)
