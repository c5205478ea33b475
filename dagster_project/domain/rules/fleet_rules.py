"""What counts as a fleet-health problem, and how bad: pure rules over the checks' query rows.

Every verdict names each affected meter with its value and since when, so an operator can act
on the check alone. A healthy fleet gives passing verdicts: rules only fire on evidence (a rise
of balance is only suspicious once the meter's event log for that time has been downloaded).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal

from dagster_project.domain.fleet_health import (
    BalanceBelowFloor,
    BalanceRise,
    ClockDrift,
    FlagDisagreement,
    IdentityMismatch,
    SignalDrop,
    SyncOutcome,
)

Severity = Literal["WARN", "ERROR"]
#: Meters listed in a verdict's table; the count always covers all of them.
TABLE_LIMIT = 50


def _doc(default: object, doc: str) -> Any:
    """A threshold with what it does (the Dagster resource that carries them shows it)."""
    return field(default=default, metadata={"doc": doc})


@dataclass(frozen=True)
class Thresholds:
    #: No default: it is the marts' clock_drift_threshold_seconds (warehouse/dbt_vars.py), so
    #: that the check and flows.meters_clock_drift list the same meters.
    clock_drift_warn_seconds: int = field(metadata={"doc": "Clock drift (either way) that warns."})
    clock_drift_error_seconds: int = _doc(300, "Clock drift beyond which it is an error.")
    csq_floor: int = _doc(10, "CSQ under this is a warning.")
    csq_drop: int = _doc(8, "A fall of this much below the meter's median warns.")
    csq_median_days: int = _doc(7, "Days of the median.")
    outage_failed_share: float = _doc(0.2, "Share of active meters failing in one sync.")
    balance_lookback_days: int = _doc(7, "Days of balance history searched.")
    top_up_match_minutes: int = _doc(
        60, "Slack around a balance rise within which a top-up event explains it."
    )
    completeness_warn_share: float = _doc(
        0.98, "Share of yesterday's half-hours known (actual or estimated) under which it warns."
    )
    completeness_error_share: float = _doc(
        0.90, "Share of yesterday's half-hours known under which it is an error."
    )


@dataclass(frozen=True)
class Verdict:
    passed: bool
    severity: Severity
    summary: str
    #: One row per affected meter: serial first, then the values that matter.
    meters: list[dict[str, Any]] = field(default_factory=list)
    counts: dict[str, float] = field(default_factory=dict)

    def meters_markdown(self) -> str:
        return markdown_table(self.meters)


def judge_clock_drift(drifts: Sequence[ClockDrift], thresholds: Thresholds) -> Verdict:
    worst = max((abs(d.drift_seconds) for d in drifts), default=0)
    severity: Severity = "ERROR" if worst > thresholds.clock_drift_error_seconds else "WARN"
    over_error = sum(abs(d.drift_seconds) > thresholds.clock_drift_error_seconds for d in drifts)
    meters = [
        {
            "serial": d.serial,
            "drift_seconds": d.drift_seconds,
            "direction": "ahead" if d.drift_seconds > 0 else "behind",
            "since": d.since,
            "measured_at": d.measured_at,
        }
        for d in drifts
    ]
    if not drifts:
        summary = f"every clock within {thresholds.clock_drift_warn_seconds} s"
    else:
        summary = (
            f"{len(drifts)} meter(s) {thresholds.clock_drift_warn_seconds} s or more out, "
            f"{over_error} over {thresholds.clock_drift_error_seconds} s; worst {worst} s"
        )
    return Verdict(
        passed=not drifts,
        severity=severity,
        summary=summary,
        meters=meters,
        counts={"meters_drifting": len(drifts), "meters_over_error": over_error},
    )


def judge_signal(drops: Sequence[SignalDrop], thresholds: Thresholds) -> Verdict:
    meters = [
        {
            "serial": d.serial,
            "csq": d.csq,
            "median_csq": d.median_csq,
            "reason": _signal_reason(d, thresholds),
            "since": d.since,
        }
        for d in drops
    ]
    summary = (
        f"{len(drops)} meter(s) with CSQ under {thresholds.csq_floor} or "
        f"{thresholds.csq_drop} below their {thresholds.csq_median_days}-day median"
        if drops
        else "every meter's signal is steady"
    )
    return Verdict(
        passed=not drops,
        severity="WARN",
        summary=summary,
        meters=meters,
        counts={"meters_low_signal": len(drops)},
    )


def _signal_reason(drop: SignalDrop, thresholds: Thresholds) -> str:
    if drop.csq < thresholds.csq_floor:
        return f"under {thresholds.csq_floor}"
    return f"{drop.median_csq:g} -> {drop.csq}"


def judge_outage(outcome: SyncOutcome | None, thresholds: Thresholds) -> Verdict:
    if outcome is None:
        return Verdict(passed=True, severity="ERROR", summary="no sync landed yet")
    share = outcome.failed / outcome.attempted if outcome.attempted else 0.0
    classes = Counter(error_class or "unknown" for _, error_class in outcome.failures)
    passed = share <= thresholds.outage_failed_share
    summary = (
        f"{outcome.failed} of {outcome.attempted} active meters failed ({share:.0%}); "
        f"limit {thresholds.outage_failed_share:.0%}"
    )
    if classes:
        summary += "; " + ", ".join(f"{name} x{count}" for name, count in classes.most_common())
    return Verdict(
        passed=passed,
        severity="ERROR",
        summary=summary,
        meters=[] if passed else [{"serial": s, "error": e} for s, e in outcome.failures],
        counts={"failed": outcome.failed, "attempted": outcome.attempted, "failed_share": share},
    )


def judge_identity(mismatches: Sequence[IdentityMismatch]) -> Verdict:
    """An error: a device at a registered address says it is another meter. Nothing it says
    is stored and nothing is written to it until an operator resolves it."""
    meters = [
        {
            "serial": m.serial,
            "mismatch": m.message,
            "since": m.first_seen,
            "last_seen": m.last_seen,
        }
        for m in mismatches
    ]
    summary = (
        f"{len(mismatches)} meter(s) answer with another serial: writes to them are blocked "
        "until `flows identity resolve`"
        if mismatches
        else "every meter reached is the one registered at its address"
    )
    return Verdict(
        passed=not mismatches,
        severity="ERROR",
        summary=summary,
        meters=meters,
        counts={"identity_mismatches": len(mismatches)},
    )


def judge_flag_disagreements(disagreements: Sequence[FlagDisagreement]) -> Verdict:
    """A warning: the registry may be stale, or the meter was switched without updating it."""
    meters = [
        {
            "serial": d.serial,
            "flag": d.flag,
            "registry": d.registry_value,
            "meter": d.meter_value,
            "reported_at": d.reported_at,
        }
        for d in disagreements
    ]
    serials = len({d.serial for d in disagreements})
    summary = (
        f"{serials} meter(s) where the registry and the meter disagree on a flag"
        if disagreements
        else "registry and meters agree on every known flag"
    )
    return Verdict(
        passed=not disagreements,
        severity="WARN",
        summary=summary,
        meters=meters,
        counts={"meters_disagreeing": serials, "flags_disagreeing": len(disagreements)},
    )


def judge_balances(
    rises: Sequence[BalanceRise], below_floor: Sequence[BalanceBelowFloor]
) -> Verdict:
    unexplained = [r for r in rises if r.logs_cover_it and not r.has_top_up_event]
    unverified = [r for r in rises if not r.logs_cover_it]
    meters = [
        {
            "serial": r.serial,
            "anomaly": "rise without a top-up event",
            "value": f"{r.previous_balance} -> {r.balance}",
            "since": r.at,
        }
        for r in unexplained
    ] + [
        {
            "serial": b.serial,
            "anomaly": "below minus the emergency credit",
            "value": f"{b.balance} < -{b.emergency_credit}",
            "since": b.since,
        }
        for b in below_floor
    ]
    summary = (
        f"{len(unexplained)} balance rise(s) without a top-up event, "
        f"{len(below_floor)} balance(s) below minus the emergency credit"
    )
    if unverified:
        summary += f"; {len(unverified)} rise(s) wait for the meter's event log"
    return Verdict(
        passed=not meters,
        severity="WARN",
        summary=summary,
        meters=meters,
        counts={
            "rises_without_top_up": len(unexplained),
            "below_floor": len(below_floor),
            "rises_awaiting_event_log": len(unverified),
        },
    )


def markdown_table(rows: Sequence[dict[str, Any]], limit: int = TABLE_LIMIT) -> str:
    if not rows:
        return "none"
    columns = list(rows[0])
    lines = [
        "| " + " | ".join(columns) + " |",
        "|" + "---|" * len(columns),
    ]
    for row in rows[:limit]:
        lines.append("| " + " | ".join(_cell(row[column]) for column in columns) + " |")
    if len(rows) > limit:
        lines.append(f"\n... and {len(rows) - limit} more")
    return "\n".join(lines)


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, float):
        return f"{value:g}"
    return str(value).replace("|", "\\|")
