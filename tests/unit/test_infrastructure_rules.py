"""The infrastructure checks' rules, without a database."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.domain.rules.infrastructure_rules import (
    CircuitLink,
    FeederHalfHour,
    ServiceHeadMeter,
    UnplacedMeter,
    judge_circuit_links,
    judge_feeder_load,
    judge_service_head_phases,
    judge_unplaced,
    overlapping_links,
    phases_taken,
)

T0 = datetime(2026, 11, 1, tzinfo=UTC)
SINGLE, THREE_AX, THREE_BY_SERIAL = "EML2137580826", "EMP1AX12345", "EMP1CX0042"


def link(circuit: str, start_hours: int, end_hours: int | None, element: str = "A") -> CircuitLink:
    end = None if end_hours is None else T0 + timedelta(hours=end_hours)
    return CircuitLink(circuit, SINGLE, element, T0 + timedelta(hours=start_hours), end)


def test_meters_without_an_esco_or_a_service_head_warn_and_are_counted_apart() -> None:
    verdict = judge_unplaced(
        [
            UnplacedMeter("EML1", False, "H1"),
            UnplacedMeter("EML2", True, None),
            UnplacedMeter("EML3", False, None),
        ]
    )
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert verdict.counts == {"meters_without_esco": 2, "meters_without_service_head": 2}
    assert "EML1, EML2, EML3" in verdict.summary
    assert judge_unplaced([]).passed


@pytest.mark.parametrize(
    ("meters", "taken"),
    [
        ([(SINGLE, "C1.w")], 1),
        ([(SINGLE, "C1.w"), (SINGLE, None), (SINGLE, "C1.w")], 3),
        ([(THREE_AX, "P1.ax")], 3),
        # A three-phase meter registered without its model is known by its serial.
        ([(THREE_BY_SERIAL, None)], 3),
        ([(SINGLE, "P1.cx")], 3),
    ],
)
def test_phases_taken_count_three_for_a_three_phase_meter(meters, taken) -> None:
    assert phases_taken([ServiceHeadMeter("H", 3, s, h) for s, h in meters]) == taken


def test_a_service_head_carrying_more_phases_than_it_has_is_an_error_naming_it() -> None:
    meters = [
        ServiceHeadMeter("full", 3, SINGLE, "C1.w"),
        ServiceHeadMeter("full", 3, THREE_AX, "P1.ax"),
        ServiceHeadMeter("fine", 3, THREE_AX, "P1.ax"),
        ServiceHeadMeter("single", 1, SINGLE, "C1.w"),
    ]
    verdict = judge_service_head_phases(meters)
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert "full (4 of 3)" in verdict.summary
    assert {row["service_head"] for row in verdict.meters} == {"full"}
    assert judge_service_head_phases(meters[2:]).passed


def test_links_of_one_register_overlap_unless_one_ends_when_the_next_starts() -> None:
    moved = [link("old", 0, 14), link("new", 14, None)]
    assert overlapping_links(moved) == []
    overlapping = [link("old", 0, 15), link("new", 14, None)]
    assert overlapping_links(overlapping) == [(overlapping[0], overlapping[1])]
    # An open link overlaps everything after its start; other elements are other registers.
    open_ended = [link("a", 0, None), link("b", 100, 120), link("c", 130, None, element="B")]
    assert overlapping_links(open_ended) == [(open_ended[0], open_ended[1])]


def test_overlapping_links_are_an_error_naming_the_register_and_both_circuits() -> None:
    verdict = judge_circuit_links([link("heat", 0, 15), link("power", 14, None)])
    assert (verdict.passed, verdict.severity) == (False, "ERROR")
    assert f"{SINGLE} A on heat and power" in verdict.summary
    assert judge_circuit_links([link("heat", 0, 14), link("power", 14, None)]).passed


def test_a_feeder_over_its_rating_warns_with_its_load_in_kw() -> None:
    half_hour = FeederHalfHour("F1", T0, Decimal("80.5"), Decimal("150"))
    assert half_hour.load_kw == Decimal("161.0")
    verdict = judge_feeder_load([half_hour])
    assert (verdict.passed, verdict.severity) == (False, "WARN")
    assert verdict.meters[0]["load_kw"] == Decimal("161.0")
    assert "F1" in verdict.summary
    assert judge_feeder_load([]).passed
