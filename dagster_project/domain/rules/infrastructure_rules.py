"""What counts as an infrastructure problem, and how bad: pure rules over the checks' rows.

A meter not placed (no ESCO the files know, or no service head) leaves holes in every grouping
BI does, so it warns. A service head carrying more phases than it has, or a register linked to
two circuits at once, is impossible wiring: the data is wrong and circuit energy would be
counted twice, so those are errors. A feeder loaded over its rating warns: the data may be right
and the network the thing to look at.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from dagster_project.domain.registry import is_three_phase
from dagster_project.domain.rules.fleet_rules import Verdict

#: Phases a meter takes from its service head.
SINGLE_PHASE_TAKES, THREE_PHASE_TAKES = 1, 3
LISTED = 10


@dataclass(frozen=True)
class UnplacedMeter:
    serial: str
    esco_known: bool
    service_head: str | None


@dataclass(frozen=True)
class ServiceHeadMeter:
    service_head: str
    phase: int
    serial: str
    hardware: str | None


@dataclass(frozen=True)
class CircuitLink:
    circuit: str
    serial: str
    element: str
    start_time: datetime
    #: None: still linked.
    end_time: datetime | None


@dataclass(frozen=True)
class FeederHalfHour:
    feeder: str
    half_hour: datetime
    import_kwh: Decimal
    rating_kw: Decimal

    @property
    def load_kw(self) -> Decimal:
        """The half-hour's mean load: its kWh over half an hour."""
        return self.import_kwh * 2


def judge_unplaced(meters: Sequence[UnplacedMeter]) -> Verdict:
    no_esco = [m for m in meters if not m.esco_known]
    no_head = [m for m in meters if m.service_head is None]
    summary = (
        f"{len(meters)} meter(s) not placed: {len(no_esco)} without an ESCO of escos.csv, "
        f"{len(no_head)} without a service head: " + _first(m.serial for m in meters)
        if meters
        else "every meter has an ESCO and a service head"
    )
    return Verdict(
        passed=not meters,
        severity="WARN",
        summary=summary,
        meters=[
            {"serial": m.serial, "esco_known": m.esco_known, "service_head": m.service_head}
            for m in meters
        ],
        counts={"meters_without_esco": len(no_esco), "meters_without_service_head": len(no_head)},
    )


def phases_taken(meters: Sequence[ServiceHeadMeter]) -> int:
    """Phases the meters take: three for a three-phase meter, one for a single-phase one."""
    return sum(
        THREE_PHASE_TAKES if is_three_phase(m.serial, m.hardware) else SINGLE_PHASE_TAKES
        for m in meters
    )


def judge_service_head_phases(meters: Sequence[ServiceHeadMeter]) -> Verdict:
    by_head: dict[tuple[str, int], list[ServiceHeadMeter]] = defaultdict(list)
    for meter in meters:
        by_head[(meter.service_head, meter.phase)].append(meter)
    over = [
        (head, phase, group)
        for (head, phase), group in sorted(by_head.items())
        if phases_taken(group) > phase
    ]
    summary = (
        f"{len(over)} service head(s) carry more phases than they have: "
        + _first(f"{head} ({phases_taken(group)} of {phase})" for head, phase, group in over)
        if over
        else "no service head carries more phases than it has"
    )
    return Verdict(
        passed=not over,
        severity="ERROR",
        summary=summary,
        meters=[
            {
                "serial": m.serial,
                "service_head": head,
                "phases": phase,
                "phases_taken": phases_taken(group),
            }
            for head, phase, group in over
            for m in group
        ],
        counts={"service_heads_over": len(over)},
    )


def overlapping_links(links: Sequence[CircuitLink]) -> list[tuple[CircuitLink, CircuitLink]]:
    """Pairs of links of one register (serial and element) whose periods overlap: each link is
    [start_time, end_time), so one ending when the next starts does not overlap it."""
    by_register: dict[tuple[str, str], list[CircuitLink]] = defaultdict(list)
    for link in links:
        by_register[(link.serial, link.element)].append(link)
    pairs = []
    for group in by_register.values():
        group.sort(key=lambda link: link.start_time)
        for i, earlier in enumerate(group):
            for later in group[i + 1 :]:
                if earlier.end_time is not None and earlier.end_time <= later.start_time:
                    break  # sorted by start: no later link can overlap this one either
                pairs.append((earlier, later))
    return pairs


def judge_circuit_links(links: Sequence[CircuitLink]) -> Verdict:
    pairs = overlapping_links(links)
    summary = (
        f"{len(pairs)} pair(s) of circuit links overlap, so their registers' energy counts "
        "twice: "
        + _first(f"{a.serial} {a.element} on {a.circuit} and {b.circuit}" for a, b in pairs)
        if pairs
        else "no register is linked to two circuits at once"
    )
    return Verdict(
        passed=not pairs,
        severity="ERROR",
        summary=summary,
        meters=[
            {
                "serial": a.serial,
                "element": a.element,
                "circuit": a.circuit,
                "from": a.start_time,
                "until": a.end_time,
                "other_circuit": b.circuit,
                "other_from": b.start_time,
                "other_until": b.end_time,
            }
            for a, b in pairs
        ],
        counts={"overlapping_links": len(pairs)},
    )


def judge_feeder_load(half_hours: Sequence[FeederHalfHour]) -> Verdict:
    """`half_hours` are the half-hours whose load exceeds the feeder's rating."""
    feeders = sorted({h.feeder for h in half_hours})
    summary = (
        f"{len(feeders)} feeder(s) loaded over their rating in {len(half_hours)} half-hour(s): "
        + _first(feeders)
        if half_hours
        else "every feeder within its rating"
    )
    return Verdict(
        passed=not half_hours,
        severity="WARN",
        summary=summary,
        meters=[
            {
                "feeder": h.feeder,
                "half_hour": h.half_hour,
                "load_kw": h.load_kw,
                "rating_kw": h.rating_kw,
            }
            for h in half_hours
        ],
        counts={"feeders_over": len(feeders), "half_hours_over": len(half_hours)},
    )


def _first(names: Iterable[object]) -> str:
    listed = list(names)
    more = f" and {len(listed) - LISTED} more" if len(listed) > LISTED else ""
    return ", ".join(map(str, listed[:LISTED])) + more
