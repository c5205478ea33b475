"""What counts as an energy-data problem, and how bad: pure rules over the energy checks' rows.

The half-hour rules themselves (negative consumption, over the supply limit, ...) run in the
warehouse as the data is built (dbt/macros/energy_rules.sql); these judge the fleet-wide result.
"""

from __future__ import annotations

from collections.abc import Sequence

from dagster_project.domain.energy_health import DayCompleteness, FlaggedHalfHour, ZeroRegister
from dagster_project.domain.rules.fleet_rules import Severity, Thresholds, Verdict


def judge_completeness(day: DayCompleteness, thresholds: Thresholds) -> Verdict:
    share = day.share
    severity: Severity = "ERROR" if share < thresholds.completeness_error_share else "WARN"
    missing = day.expected - day.actual - day.estimated
    summary = (
        f"{share:.1%} of the fleet's half-hours of {day.day} known "
        f"({day.actual} actual, {day.estimated} estimated, {missing} not) of {day.expected}; "
        f"warn under {thresholds.completeness_warn_share:.0%}, "
        f"error under {thresholds.completeness_error_share:.0%}"
    )
    return Verdict(
        passed=share >= thresholds.completeness_warn_share,
        severity=severity,
        summary=summary,
        meters=[
            {"serial": serial, "element": element, "known": known, "expected": expected}
            for serial, element, known, expected in day.short
        ],
        counts={
            "share_known": round(share, 4),
            "half_hours_expected": day.expected,
            "half_hours_actual": day.actual,
            "half_hours_estimated": day.estimated,
            "registers_short": len(day.short),
        },
    )


def _judge_flagged(
    flagged: Sequence[FlaggedHalfHour], severity: Severity, what: str, none: str
) -> Verdict:
    meters = {f.serial for f in flagged}
    summary = (
        f"{len(flagged)} half-hour(s) {what} on {len(meters)} meter(s): "
        + ", ".join(sorted(meters)[:10])
        if flagged
        else none
    )
    return Verdict(
        passed=not flagged,
        severity=severity,
        summary=summary,
        meters=[
            {
                "serial": f.serial,
                "element": f.element,
                "half_hour": f.half_hour,
                "import_kwh": f.import_kwh,
                "rules": ", ".join(f.rules),
            }
            for f in flagged
        ],
        counts={"half_hours": len(flagged), "meters": len(meters)},
    )


def judge_negative_consumption(flagged: Sequence[FlaggedHalfHour]) -> Verdict:
    """A register that went backwards is an error: a meter exchanged unrecorded, a bad read,
    or a fault; its half-hours are left without a value until someone looks."""
    return _judge_flagged(flagged, "ERROR", "of negative consumption", "no register went backwards")


def judge_out_of_range(flagged: Sequence[FlaggedHalfHour]) -> Verdict:
    return _judge_flagged(
        flagged,
        "WARN",
        "above what the supply can carry",
        "every half-hour within its supply's limit",
    )


def judge_stuck(registers: Sequence[ZeroRegister]) -> Verdict:
    summary = (
        f"{len(registers)} register(s) recorded nothing for {registers[0].zero_days} days while "
        "their meter answered: a stuck register or an empty property"
        if registers
        else "every answering meter's registers moved"
    )
    return Verdict(
        passed=not registers,
        severity="WARN",
        summary=summary,
        meters=[
            {
                "serial": r.serial,
                "element": r.element,
                "zero_days": r.zero_days,
                "last_contact_at": r.last_contact_at,
            }
            for r in registers
        ],
        counts={"registers": len(registers)},
    )
