"""`flows emop`: read one meter from the command line, or each meter of an ESCO, site or
feeder, as a table or as JSON."""

from __future__ import annotations

import contextlib
import json
import math
import sys
from collections.abc import Callable, Coroutine, Iterator
from dataclasses import asdict, dataclass, is_dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import click
from click.core import ParameterSource
from rich.console import Console

from dagster_project.cli.common import EXIT_FAILED, fail, open_database
from dagster_project.emop import objects as o
from dagster_project.emop import runner
from dagster_project.emop.client import STATE_OBJECTS, ClientSettings, EmopClient
from dagster_project.emop.errors import (
    EmopError,
    MeterConnectionError,
    MeterTimeoutError,
    MeterUnreachableError,
)
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.emop.tariffs import ACTIVE_TARIFF_OBJECTS, FUTURE_TARIFF_OBJECTS, Tariff
from dagster_project.emop.values import EMOP_EPOCH
from dagster_project.warehouse.infrastructure_store import polled_meters

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


#: The last moment an EMOP time (unsigned seconds since 2000) can name.
EMOP_LAST = EMOP_EPOCH + timedelta(seconds=0xFFFFFFFF)
#: What --to defaults to: this long after --from.
PROFILE_SPAN = timedelta(hours=2)
# An unreachable meter is the usual reason a read fails: say what the operator can check.
REACH_HINT = (
    "check --host/--port and that the meter is online (--timeout/--attempts allow a slow link)"
)


def parse_timestamp(text: str) -> datetime:
    """ISO 8601; a time without a zone is taken as UTC."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise click.BadParameter(f"{text!r} is not an ISO 8601 timestamp") from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


class Timestamp(click.ParamType):
    """An ISO 8601 time a meter can be asked about (UTC unless a zone is given), checked as the
    option is read so that click names the option in the message."""

    name = "timestamp"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, datetime):
            return value
        try:
            moment = parse_timestamp(value)
        except click.BadParameter as error:
            self.fail(error.message, param, ctx)
        # Outside this range the request cannot even be encoded (and +2 h on 9999-12-31
        # overflows Python's datetime).
        if not EMOP_EPOCH <= moment <= EMOP_LAST:
            self.fail(
                f"{value!r} is outside what a meter can hold "
                f"({EMOP_EPOCH:%Y-%m-%d} to {EMOP_LAST:%Y-%m-%d %H:%M:%S} UTC)",
                param,
                ctx,
            )
        return moment


class FiniteFloat(click.FloatRange):
    """A float range that also refuses nan and inf, which every comparison of a plain range
    lets through (nan) or which mean "wait forever" (inf)."""

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        number = super().convert(value, param, ctx)
        if not math.isfinite(number):
            self.fail(f"{value!r} is not a finite number", param, ctx)
        return number


PORT = click.IntRange(1, 65535)
SECONDS_POSITIVE = FiniteFloat(min=0, min_open=True)
SECONDS_NOT_NEGATIVE = FiniteFloat(min=0)

# Options that only one command reads: given with another, they would be silently ignored.
ONLY_FOR = {"start": "profile_log_1", "end": "profile_log_1", "pages": "event_log"}
OPTION_NAMES = {"start": "--from", "end": "--to", "pages": "--pages"}
_GIVEN = (ParameterSource.COMMANDLINE, ParameterSource.ENVIRONMENT)


@click.command("emop")
@click.option(
    "--host", default=None, help="Meter address (or select meters: --esco, --site, --feeder)."
)
@click.option("--port", type=PORT, default=8080, show_default=True)
@click.option("--serial", default=None, help="Serial, only to name the meter in messages.")
@click.option("--esco", default=None, help="Every polled meter of this ESCO (code or UUID).")
@click.option("--site", default=None, help="Every polled meter on this site (its code).")
@click.option("--feeder", default=None, help="Every polled meter on this feeder (its name).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON for scripts.")
@click.option(
    "--timeout",
    type=SECONDS_POSITIVE,
    default=10.0,
    show_default=True,
    help="Seconds per exchange.",
)
@click.option(
    "--attempts",
    type=click.IntRange(min=1),
    default=3,
    show_default=True,
    help="Tries per request.",
)
@click.option(
    "--gap",
    type=SECONDS_NOT_NEGATIVE,
    default=2.0,
    show_default=True,
    help="Seconds between requests.",
)
@click.option(
    "--from",
    "start",
    type=Timestamp(),
    default=None,
    help="profile_log_1: first record time (ISO).",
)
@click.option(
    "--to", "end", type=Timestamp(), default=None, help="profile_log_1: end time (default: +2 h)."
)
@click.option(
    "--pages",
    type=click.IntRange(min=1),
    default=1,
    show_default=True,
    help="event_log: pages of 10 events.",
)
@click.argument("command", type=click.Choice(COMMANDS))
@click.pass_context
def emop(
    context: click.Context,
    host: str | None,
    port: int,
    serial: str | None,
    esco: str | None,
    site: str | None,
    feeder: str | None,
    as_json: bool,
    timeout: float,
    attempts: int,
    gap: float,
    start: datetime | None,
    end: datetime | None,
    pages: int,
    command: str,
) -> None:
    """Read COMMAND over EMOP from the meter at --host, or from each polled meter of an ESCO,
    site or feeder (--esco, --site, --feeder; given together, the meters in all of them), one
    meter at a time."""
    selection = (("esco", esco), ("site", site), ("feeder", feeder))
    selected = {name: value for name, value in selection if value is not None}
    if host is not None and selected:
        raise click.UsageError("give --host for one meter or --esco/--site/--feeder, not both")
    if host is None and not selected:
        raise click.UsageError("give --host, or select meters with --esco, --site or --feeder")
    if host is not None and not host.strip():
        raise click.BadParameter("an empty host names no meter", param_hint="'--host'")
    for name in ("port", "serial"):
        if selected and context.get_parameter_source(name) in _GIVEN:
            raise click.UsageError(f"--{name} names one meter: the selected meters have their own")
    for name, only in ONLY_FOR.items():
        if command != only and context.get_parameter_source(name) in _GIVEN:
            raise click.UsageError(f"{OPTION_NAMES[name]} applies to {only} only, not {command}")
    if command == "profile_log_1":
        if start is None:
            raise click.UsageError("profile_log_1 needs --from TIMESTAMP")
        if end is None:
            end = min(start + PROFILE_SPAN, EMOP_LAST)
        elif end <= start:
            raise click.UsageError(
                f"--to {end.isoformat()} is not after --from {start.isoformat()}: "
                "give the end of the range after its start"
            )
    settings = ClientSettings(timeout_seconds=timeout, attempts=attempts, min_gap_seconds=gap)
    if host is not None:
        reading = read_meter(
            command, MeterEndpoint(host=host, port=port, serial=serial), settings, start, end, pages
        )
        if reading.result is not None:
            click.echo(
                json.dumps(to_plain(reading.result), indent=2)
                if as_json
                else render(reading.result)
            )
        for line in reading.errors:
            click.echo(line, err=True)
        sys.exit(EXIT_FAILED if reading.errors else 0)
    read_selection(command, selected, settings, start, end, pages, as_json)


@dataclass(frozen=True)
class Reading:
    """What one meter gave: the result to show (None when nothing was read), and the error
    lines for stderr."""

    result: Any
    errors: list[str]


def read_meter(
    command: str,
    meter: MeterEndpoint,
    settings: ClientSettings,
    start: datetime | None,
    end: datetime | None,
    pages: int,
) -> Reading:
    async def run() -> Any:
        async with EmopClient(settings) as client:
            return await _COMMANDS[command](client, meter, start, end, pages)

    try:
        with reading_progress(command, meter, settings):
            result = runner.run(run())
    except EmopError as error:
        return Reading(None, [meter_error_line(meter, error)])
    except OSError as error:  # a socket failure the client did not wrap: still the meter's
        return Reading(
            None, [f"error: meter {meter.label}: could not connect ({error}); {REACH_HINT}"]
        )
    if isinstance(result, MeterState) and not result.contacted and result.errors:
        # Nothing was read: a table of dashes and one line per object would bury the reason,
        # which is the first error (the rest say "not read: the meter already failed").
        return Reading(None, [meter_error_line(meter, next(iter(result.errors.values())))])
    errors = (
        [f"error reading {name}: {error}" for name, error in result.errors.items()]
        if isinstance(result, MeterState)
        else []
    )
    return Reading(result, errors)


def read_selection(
    command: str,
    selected: dict[str, str],
    settings: ClientSettings,
    start: datetime | None,
    end: datetime | None,
    pages: int,
    as_json: bool,
) -> None:
    """Each polled meter of the selection in turn (a meter serves one conversation at a time,
    and the gap between requests holds per meter): a heading and its reading each, JSON lines
    with --json; a meter that fails is said and the next one read. Exit 1 if any failed."""
    with open_database() as conn:
        meters = polled_meters(conn, **selected)
    named = ", ".join(f"{name} {value!r}" for name, value in selected.items())
    if not meters:
        fail(f"no polled meter with {named} in the registry and infrastructure files loaded")
    failed = []
    for number, meter in enumerate(meters, 1):
        endpoint = MeterEndpoint(host=meter.host, port=meter.port, serial=meter.serial)
        if not as_json:
            click.echo(f"== meter {meter.serial} ({meter.name}), {number} of {len(meters)} ==")
        reading = read_meter(command, endpoint, settings, start, end, pages)
        if as_json:
            outcome = {"result": to_plain(reading.result)} if reading.result is not None else {}
            click.echo(json.dumps({"serial": meter.serial, **outcome, "errors": reading.errors}))
        elif reading.result is not None:
            click.echo(render(reading.result))
        for line in reading.errors:
            click.echo(line, err=True)
        if reading.errors:
            failed.append(meter.serial)
    click.echo(
        f"{len(meters) - len(failed)} of {len(meters)} meters with {named} read"
        + (f"; failed: {', '.join(failed)}" if failed else ""),
        err=True,
    )
    sys.exit(EXIT_FAILED if failed else 0)


#: Requests each command makes (state: one per object; the tariff sets: one per field), for
#: saying how long the read will take: real meters want `--gap` seconds between requests.
REQUESTS = {
    "state": len(STATE_OBJECTS),
    "tariffs_active": len(ACTIVE_TARIFF_OBJECTS),
    "tariffs_future": len(FUTURE_TARIFF_OBJECTS),
}


@contextlib.contextmanager
def reading_progress(
    command: str, meter: MeterEndpoint, settings: ClientSettings
) -> Iterator[None]:
    """Say on stderr what is being read while it is (a spinner on a terminal, one line
    otherwise), when it takes more than a couple of requests."""
    requests = REQUESTS.get(command)
    if requests is None or requests * settings.min_gap_seconds < 3:
        yield
        return
    about = round(requests * settings.min_gap_seconds)
    text = (
        f"reading {command} from meter {meter.label}: {requests} requests "
        f"{settings.min_gap_seconds:g} s apart, about {about} s"
    )
    console = Console(stderr=True, soft_wrap=True)
    if not console.is_terminal:
        console.print(text, highlight=False, markup=False)
        yield
        return
    with console.status(text):
        yield


def meter_error_line(meter: MeterEndpoint, error: EmopError) -> str:
    """One line: the meter (host:port), what failed, and what to check when it was not
    reached at all."""
    text = f"error: {error.with_context(meter=meter.label)}"
    if isinstance(error, MeterConnectionError | MeterTimeoutError | MeterUnreachableError):
        text += f"; {REACH_HINT}"
    return text


Handler = Callable[
    [EmopClient, MeterEndpoint, datetime | None, datetime | None, int], Coroutine[Any, Any, Any]
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
    client: EmopClient, meter: MeterEndpoint, start: datetime | None, end: datetime | None, _: int
) -> list[Any]:
    assert start is not None and end is not None  # the command checked and defaulted them
    return await client.read_profile_range(meter, 1, start, end, twin_element=False)


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
@click.option(
    "--meters",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Meters in the fleet.",
)
@click.option("--seed", default=1, show_default=True, help="Same seed, same fleet.")
@click.option(
    "--registry-out",
    type=click.Path(dir_okay=False, writable=True),
    default=None,
    help="Write the fleet's registry CSV here (load it with FLOWS_REGISTRY_CSV).",
)
@click.option(
    "--faulty-fraction",
    type=FiniteFloat(0, 1),
    default=0.0,
    show_default=True,
    help="Share of faulty meters.",
)
@click.option(
    "--latency",
    type=SECONDS_NOT_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Seconds before each answer.",
)
@click.option(
    "--speed",
    type=FiniteFloat(min=0, min_open=True),
    default=1.0,
    show_default=True,
    help="Simulated time per wall second.",
)
@click.option(
    "--min-gap",
    type=SECONDS_NOT_NEGATIVE,
    default=0.0,
    show_default=True,
    help="Meters reset requests sooner than this.",
)
@click.option(
    "--addressing",
    type=click.Choice(["ip", "ports"]),
    default="ip",
    show_default=True,
    help="ip: each meter on its own 127.x.y.z:8080; ports: 127.0.0.1 with a port per meter.",
)
@click.option(
    "--base-port",
    type=click.IntRange(0, 65535),
    default=20000,
    show_default=True,
    help="First port (ports mode); 0: free ports the system picks.",
)
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
    try:
        run_simulator(config, Path(registry_out) if registry_out else None, echo=click.echo)
    except OSError as error:  # a meter's address cannot be bound (served in this process)
        click.echo(f"error: simulator: {error.strerror or error}; {BIND_HINT}", err=True)
        sys.exit(1)
    except RuntimeError as error:  # a worker process (large fleets) failed to start serving
        hint = f"; {BIND_HINT}" if "cannot bind" in str(error) else ""
        click.echo(f"error: simulator: {error}{hint}", err=True)
        sys.exit(1)


# Binding fails mostly because another simulator still serves the same addresses.
BIND_HINT = (
    "is another `flows simulate` running? stop it, or serve on other ports with "
    "--addressing ports --base-port N (--base-port 0: free ports the system picks)"
)
