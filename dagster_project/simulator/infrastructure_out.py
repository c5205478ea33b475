"""The infrastructure files of a fleet, made from its registry rows: ESCOs, sites, properties,
feeders, service heads, circuits and their links, in dagster_project.domain.infrastructure's
format, so that a simulated fleet (and the demo registry) comes with the files an operator keeps
beside the registry.

Deterministic from the rows (and the ESCO order and move instant given): the ESCOs are the
registry's `esco` values; meters are grouped into sites by ESCO and street (a meter's name
without its house number, e.g. "1 Water Lilies Lane" -> "Water Lilies Lane"); each meter's name
is its property's plot, and each property has one service head (three phases when a meter on it
is three-phase, fuse 100 A) on one of its ESCO's one or two feeders. Each site has a `power`
circuit (elements A and SINGLE), a `heat` circuit (element B of twin-element meters) and a
`solar` circuit (every register of a meter with direction_reversed), as the site needs them,
linked from LINKS_SINCE. One register changes circuit at `move_at` (a half-hour boundary):
the first heat register was on its site's power circuit until then (the heat pump's supply was
rewired); a fleet without one moves its first register to a second circuit of its type.
"""

from __future__ import annotations

import csv
import re
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from dagster_project.domain.fleet_sync import TWIN_ELEMENT_MODELS
from dagster_project.domain.infrastructure import (
    CIRCUIT_REGISTERS,
    CIRCUITS,
    ESCOS,
    FEEDERS,
    KINDS,
    PROPERTIES,
    PROPERTY_SERVICE_HEADS,
    SERVICE_HEAD_METERS,
    SERVICE_HEADS,
    SITES,
)
from dagster_project.domain.registry import is_three_phase, parse_optional_bool
from dagster_project.simulator.clock import DAY_SECONDS, STEP_SECONDS, floor_day
from dagster_project.simulator.config import FleetConfig

#: When every circuit link starts: before any simulated or demo reading.
LINKS_SINCE = datetime(2024, 1, 1, tzinfo=UTC)
#: When the moving register changes circuit, unless told otherwise.
DEFAULT_MOVE_AT = datetime(2026, 6, 1, tzinfo=UTC)
FUSE_RATING_AMPS = 100
VOLTS = 230
#: Every CUSTOMER_OWNED_EVERY-th service head is the customer's; the rest are the network's.
CUSTOMER_OWNED_EVERY = 7
#: An ESCO with this many sites or more has two feeders.
SITES_FOR_TWO_FEEDERS = 2
#: The first ESCOs' codes, names and regions; later ones are numbered.
ESCO_NAMES = (
    ("wlce", "Water Lilies Community Energy", "South West England"),
    ("hazelmead", "Hazelmead Energy Co-operative", "Mid Wales"),
    ("riverside", "Riverside Heat and Power", "North West England"),
    ("fenland", "Fenland Community Power", "East of England"),
)

_UK_FLAT = re.compile(r".*,\s*")  # "Flat 3, 12 Oak Road" -> "12 Oak Road"
_QUALIFIER = re.compile(r"\s*\([^)]*\)\s*$")  # "4 Water Lilies Lane (twin)"
_HOUSE_NUMBER = re.compile(r"^[0-9]+[a-zA-Z]?\s+")  # "12a Oak Road"
_TRAILING_NUMBER = re.compile(r"\s+[0-9]+[a-zA-Z]?$")  # "Hazelmead Cottage 2"
HEAT_MOVE_NOTE = "heat pump supply rewired from the house circuit to the heat circuit"
_NOT_CODE = re.compile(r"[^a-z0-9]+")

Rows = list[dict[str, str]]


@dataclass(frozen=True)
class FleetMeter:
    """What the infrastructure of a meter is made from: its registry row's fields."""

    serial: str
    name: str
    hardware: str | None
    #: The registry's `esco`: an ESCO's UUID or code.
    esco: str
    direction_reversed: bool = False

    @classmethod
    def from_registry_row(cls, row: Mapping[str, str]) -> FleetMeter:
        return cls(
            serial=row["serial"].strip(),
            name=row["name"].strip(),
            hardware=(row.get("hardware") or "").strip() or None,
            esco=row["esco"].strip(),
            direction_reversed=parse_optional_bool((row.get("direction_reversed") or "").strip()),
        )

    @property
    def three_phase(self) -> bool:
        return is_three_phase(self.serial, self.hardware)

    @property
    def elements(self) -> tuple[str, ...]:
        return ("A", "B") if self.hardware in TWIN_ELEMENT_MODELS else ("SINGLE",)


def street_of(name: str) -> str:
    """The street (or place) of a meter's name: without flat, house number or qualifier."""
    street = _QUALIFIER.sub("", _UK_FLAT.sub("", name))
    street = _TRAILING_NUMBER.sub("", _HOUSE_NUMBER.sub("", street)).strip()
    return street or name


def simulated_move_at(config: FleetConfig) -> datetime:
    """When a simulated fleet's register changes circuit: half-way through the history its
    meters hold when it starts (on the half-hour), so that readings fall on both sides."""
    origin = config.clock().sim_origin
    history_start = floor_day(origin) - config.history_days * DAY_SECONDS
    middle = (history_start + origin) / 2
    move_at = int(middle // STEP_SECONDS * STEP_SECONDS)
    return max(datetime.fromtimestamp(move_at, UTC), LINKS_SINCE + timedelta(minutes=30))


def link_time(moment: datetime) -> str:
    """An instant as the files give it: UTC, to the minute, e.g. 2024-01-01T00:00Z."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%MZ")


def infrastructure_for_registry(
    registry_rows: Iterable[Mapping[str, str]],
    *,
    escos: Sequence[uuid.UUID] = (),
    move_at: datetime = DEFAULT_MOVE_AT,
) -> dict[str, Rows]:
    """The nine files' rows (by kind name, every value a string) for a registry's rows.

    `escos` lists ESCOs in the order their codes are dealt (with or without meters); ESCOs the
    rows name beyond them follow in order of first appearance. `move_at` must be on the
    half-hour and after LINKS_SINCE."""
    if move_at <= LINKS_SINCE or move_at.minute % 30 or move_at.second or move_at.microsecond:
        raise ValueError(f"move_at {move_at} must be a half-hour after {LINKS_SINCE}")
    meters = [FleetMeter.from_registry_row(row) for row in registry_rows]
    return _Builder(meters, escos, move_at).build()


class _Builder:
    def __init__(
        self, meters: list[FleetMeter], escos: Sequence[uuid.UUID], move_at: datetime
    ) -> None:
        self.meters = meters
        self.move_at = move_at
        self.tables: dict[str, Rows] = {kind.name: [] for kind in KINDS}
        self.esco_codes: dict[str, str] = {}  # the registry's esco -> code
        self.site_codes: dict[tuple[str, str], str] = {}  # (esco code, street) -> site code
        self.circuits: set[str] = set()
        for esco in escos:
            self._esco(str(esco))

    def build(self) -> dict[str, Rows]:
        properties: dict[tuple[str, str], list[FleetMeter]] = {}
        for meter in self.meters:
            site = self._site(self._esco(meter.esco), street_of(meter.name))
            properties.setdefault((site, meter.name), []).append(meter)
        feeders = self._feeders(properties)
        for number, ((site, plot), on_property) in enumerate(properties.items()):
            self._property(number, site, plot, on_property, feeders[site])
        self._circuit_registers(properties)
        return self.tables

    def _esco(self, esco: str) -> str:
        """The code of the ESCO the registry names by UUID or code, listed on first use."""
        key = esco.lower()
        if key in self.esco_codes:
            return self.esco_codes[key]
        number = len(self.esco_codes)
        try:
            esco_id = str(uuid.UUID(esco))
        except ValueError:
            esco_id, code, name, region = "", key, esco, ""
        else:
            code, name, region = (
                ESCO_NAMES[number]
                if number < len(ESCO_NAMES)
                else (f"esco-{number + 1}", f"ESCO {number + 1}", "")
            )
        self.esco_codes[key] = code
        self.tables[ESCOS.name].append(
            {"id": esco_id, "code": code, "name": name, "region": region}
        )
        return code

    def _site(self, esco: str, street: str) -> str:
        if (esco, street) in self.site_codes:
            return self.site_codes[(esco, street)]
        slug = _NOT_CODE.sub("-", street.lower()).strip("-") or "site"
        base = (slug if slug.startswith(f"{esco}-") else f"{esco}-{slug}")[:60]
        taken = set(self.site_codes.values())
        code, number = base, 1
        while code in taken:
            number += 1
            code = f"{base}-{number}"
        self.site_codes[(esco, street)] = code
        self.tables[SITES.name].append({"code": code, "name": street, "esco": esco})
        return code

    def _feeders(self, properties: Mapping[tuple[str, str], list[FleetMeter]]) -> dict[str, str]:
        """Each site's feeder: one per ESCO, or two taking its sites in turn; rated for every
        service head on it drawing its fuse's full current on every phase at once."""
        sites_of: dict[str, list[str]] = {}
        for site in self.tables[SITES.name]:
            sites_of.setdefault(site["esco"], []).append(site["code"])
        feeder_of: dict[str, str] = {}
        for esco, sites in sites_of.items():
            count = 2 if len(sites) >= SITES_FOR_TWO_FEEDERS else 1
            for number, site in enumerate(sites):
                feeder_of[site] = f"{esco}-feeder-{number % count + 1}"
        watts: dict[str, int] = dict.fromkeys(feeder_of.values(), 0)
        for (site, _), on_property in properties.items():
            phases = _phases(on_property)
            watts[feeder_of[site]] += phases * FUSE_RATING_AMPS * VOLTS
        for esco in sites_of:
            for feeder in sorted(name for name in watts if name.startswith(f"{esco}-feeder-")):
                rating_kw = -(-watts[feeder] // 10_000) * 10  # kW, up to a multiple of 10
                row = {"name": feeder, "esco": esco, "rating_kw": str(max(rating_kw, 10))}
                self.tables[FEEDERS.name].append(row)
        return feeder_of

    def _property(
        self, number: int, site: str, plot: str, meters: list[FleetMeter], feeder: str
    ) -> None:
        head = f"{site}/{plot}"
        customer = number % CUSTOMER_OWNED_EVERY == CUSTOMER_OWNED_EVERY - 1
        owner = "customer_owned" if customer else "network_owned"
        self.tables[PROPERTIES.name].append({"plot": plot, "site": site})
        self.tables[SERVICE_HEADS.name].append(
            {
                "name": head,
                "feeder": feeder,
                "phase": str(_phases(meters)),
                "fuse_rating": str(FUSE_RATING_AMPS),
                "type": owner,
            }
        )
        self.tables[PROPERTY_SERVICE_HEADS.name].append(
            {"site": site, "plot": plot, "service_head": head}
        )
        for meter in meters:
            self.tables[SERVICE_HEAD_METERS.name].append(
                {"service_head": head, "serial": meter.serial}
            )

    def _circuit_registers(self, properties: Mapping[tuple[str, str], list[FleetMeter]]) -> None:
        links = [
            (site, meter, element)
            for (site, _), meters in properties.items()
            for meter in meters
            for element in meter.elements
        ]
        # The register that moves: the first on a heat circuit, else the first of all.
        kinds = [circuit_type(meter, element) for _, meter, element in links]
        moving = kinds.index("heat") if "heat" in kinds else 0
        for number, ((site, meter, element), kind) in enumerate(zip(links, kinds, strict=True)):
            circuit = self._circuit(site, kind)
            if number != moving:
                self._link(circuit, meter, element, LINKS_SINCE)
                continue
            if kind == "heat":
                old, new, note = self._circuit(site, "power"), circuit, HEAT_MOVE_NOTE
            else:
                old, new = circuit, self._circuit(site, kind, f"{circuit}-2")
                note = f"moved to the site's second {kind} circuit"
            self._link(old, meter, element, LINKS_SINCE, self.move_at)
            self._link(new, meter, element, self.move_at, None, note)

    def _link(
        self,
        circuit: str,
        meter: FleetMeter,
        element: str,
        start: datetime,
        end: datetime | None = None,
        notes: str = "",
    ) -> None:
        self.tables[CIRCUIT_REGISTERS.name].append(
            {
                "circuit": circuit,
                "serial": meter.serial,
                "element": element,
                "start_time": link_time(start),
                "end_time": "" if end is None else link_time(end),
                "notes": notes,
            }
        )

    def _circuit(self, site: str, kind: str, name: str | None = None) -> str:
        name = name or f"{site}-{kind}"
        if name not in self.circuits:
            self.circuits.add(name)
            self.tables[CIRCUITS.name].append({"name": name, "type": kind, "site": site})
        return name


def circuit_type(meter: FleetMeter, element: str) -> str:
    """solar for every register of a meter measuring export (direction_reversed), heat for
    element B of a twin-element meter, power for the rest."""
    if meter.direction_reversed:
        return "solar"
    return "heat" if element == "B" else "power"


def _phases(meters: Iterable[FleetMeter]) -> int:
    return 3 if any(meter.three_phase for meter in meters) else 1


def write_infrastructure_files(directory: Path, tables: Mapping[str, Rows]) -> None:
    """Write each kind's file into `directory` (its columns in the format's order), each
    written whole and then renamed into place."""
    directory.mkdir(parents=True, exist_ok=True)
    partials = []
    for kind in KINDS:
        path = directory / kind.file_name
        partial = path.with_name(path.name + ".partial")
        with partial.open("w", newline="", encoding="utf-8") as out:
            writer = csv.DictWriter(out, fieldnames=list(kind.parsers), lineterminator="\n")
            writer.writeheader()
            writer.writerows(tables.get(kind.name, []))
        partials.append((partial, path))
    for partial, path in partials:
        partial.replace(path)


def write_infrastructure_for_registry(registry_csv: Path, directory: Path | None = None) -> None:
    """The infrastructure files for a registry file, beside it unless told where. The demo's are
    made so: `python -c "from dagster_project.paths import DEMO_REGISTRY_CSV as r;
    from dagster_project.simulator.infrastructure_out import write_infrastructure_for_registry
    as w; w(r)"`."""
    with registry_csv.open(newline="", encoding="utf-8-sig") as registry:
        tables = infrastructure_for_registry(csv.DictReader(registry))
    write_infrastructure_files(directory or registry_csv.parent, tables)
