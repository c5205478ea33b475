"""A fleet sync without the plumbing: which meters to poll, the rows a sync lands, and the
summary an operator reads. Plain Python, unit-tested without a database or a network."""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dagster_project.domain.registry import not_polled_reason
from dagster_project.emop import objects as o
from dagster_project.emop.errors import MeterUnreachableError
from dagster_project.emop.state import MeterEndpoint, MeterState
from dagster_project.emop.tariffs import ACTIVE_TARIFF_OBJECTS, FUTURE_TARIFF_OBJECTS
from dagster_project.emop.values import TWIN_ELEMENT_MODELS

OK = "ok"
#: The meter answered, but refused or garbled some objects: what it did answer lands.
PARTIAL = "partial"
FAILED = "failed"
SKIPPED = "skipped"

_SYNC_NAMESPACE = uuid.UUID("0b5c1d7e-2f33-4c0a-9d7e-5c1f0e8a6b42")


def sync_id_for_run(run_id: str, bucket_key: str) -> uuid.UUID:
    """One sync per Dagster run and bucket: a retried step re-lands the same syncs instead of
    adding more."""
    return uuid.uuid5(_SYNC_NAMESPACE, f"{run_id}/{bucket_key}")


@dataclass(frozen=True)
class RegisteredMeter:
    """A meter as the registry lists it, with what the sync needs."""

    id: uuid.UUID
    serial: str
    host: str
    port: int
    mode: str
    hardware: str | None = None
    #: The ESCO that runs the meter: its meters share the ESCO's cap on connections.
    esco: uuid.UUID | None = None
    #: enabled or disabled; deleted meters are not registered meters at all.
    installation_status: str = "enabled"

    @property
    def endpoint(self) -> MeterEndpoint:
        return MeterEndpoint(host=self.host, port=self.port, serial=self.serial)

    @property
    def not_polled_reason(self) -> str | None:
        """Why the sync does not contact this meter, or None when it does."""
        return not_polled_reason(self.mode, self.installation_status, self.serial, self.hardware)

    @property
    def polled(self) -> bool:
        """Only active, enabled, single-phase meters are contacted."""
        return self.not_polled_reason is None

    @property
    def twin_element(self) -> bool:
        return self.hardware in TWIN_ELEMENT_MODELS


def esco_of(meters: Iterable[RegisteredMeter]) -> Callable[[MeterEndpoint], str | None]:
    """Each meter's ESCO as the group of its connection slots (emop.connection_slots)."""
    by_endpoint = {meter.endpoint: meter.esco and str(meter.esco) for meter in meters}
    return lambda endpoint: by_endpoint.get(endpoint)


#: Each value a snapshot holds, and the objects it is read from. A value is read when all its
#: objects are; the marts take each value from the latest snapshot that read it.
VALUE_OBJECTS: dict[str, tuple[o.EmopObject, ...]] = {
    "balance": (o.PREPAY_BALANCE,),
    "csq": (o.CSQ,),
    "voltage": (o.VOLTAGE,),
    "clock": (o.CLOCK,),
    "element_a": (o.ELEMENT_A,),
    "element_b": (o.ELEMENT_B,),
    "hardware": (o.HARDWARE,),
    "firmware": (o.FIRMWARE,),
    "prepay_enabled": (o.PREPAY_ENABLED,),
    "dst_enabled": (o.DST_FLAG,),
    "tariffs_active": tuple(ACTIVE_TARIFF_OBJECTS.values()),
    # Read with nothing scheduled, the future set is empty: read, yet null.
    "tariffs_future": tuple(FUTURE_TARIFF_OBJECTS.values()),
}


def outcome_of(state: MeterState) -> str:
    """ok: every object read; partial: the meter answered (any exchange succeeded) but some
    objects failed; failed: nothing was read."""
    if state.ok:
        return OK
    return PARTIAL if state.contacted else FAILED


def values_read(state: MeterState) -> list[str]:
    """The snapshot's values whose every object was read, in VALUE_OBJECTS order."""
    read = set(state.read_ok)
    return [
        value
        for value, objects in VALUE_OBJECTS.items()
        if all(obj.name in read for obj in objects)
    ]


def main_error(state: MeterState) -> tuple[str | None, str | None]:
    """The error that explains a failed read: the first one that is not a consequence."""
    errors = list(state.errors.values())
    if not errors:
        return None, None
    cause = next((e for e in errors if not isinstance(e, MeterUnreachableError)), errors[0])
    return cause.kind, str(cause)


def snapshot_row(sync_id: uuid.UUID, meter: RegisteredMeter, state: MeterState) -> dict[str, Any]:
    """One meter_sync_snapshots row by column name."""
    error_class, error_message = main_error(state)
    a, b = state.element_a, state.element_b
    values: dict[str, Any] = {
        "sync_id": sync_id,
        "meter_id": meter.id,
        "serial": meter.serial,
        "polled_at": state.polled_at,
        "finished_at": state.finished_at,
        "outcome": outcome_of(state),
        "error_class": error_class,
        "error_message": error_message,
        "object_errors": (
            {name: {"kind": e.kind, "message": str(e)} for name, e in state.errors.items()} or None
        ),
        "values_read": values_read(state),
        "balance": state.prepay_balance,
        "emergency_credit": state.emergency_credit,
        "clock_time_diff_seconds": state.clock_time_diff_seconds,
        "meter_clock": state.clock,
        "csq": state.csq,
        "csq_operator": state.csq_operator,
        "voltage": state.voltage,
        "import_a": a and a.active_import_wh,
        "export_a": a and a.active_export_wh,
        "reactive_import_a": a and a.reactive_import_varh,
        "reactive_export_a": a and a.reactive_export_varh,
        "import_b": b and b.active_import_wh,
        "export_b": b and b.active_export_wh,
        "reactive_import_b": b and b.reactive_import_varh,
        "reactive_export_b": b and b.reactive_export_varh,
        "firmware": state.firmware,
        "hardware": state.hardware,
        "prepay_enabled": state.prepay_enabled,
        "dst_enabled": state.dst_enabled,
        "tariffs_active": state.tariffs_active and state.tariffs_active.to_json(),
        "tariffs_future": state.tariffs_future and state.tariffs_future.to_json(),
    }
    return values


def skipped_row(sync_id: uuid.UUID, meter: RegisteredMeter, at: datetime) -> dict[str, Any]:
    """A meter the sync does not contact (passive, disabled, three-phase): recorded with the
    reason, and no values (the columns not named here)."""
    return {
        "sync_id": sync_id,
        "meter_id": meter.id,
        "serial": meter.serial,
        "polled_at": at,
        "finished_at": at,
        "outcome": SKIPPED,
        "error_message": f"not polled: {meter.not_polled_reason}",
    }


@dataclass
class SyncSummary:
    ok: int = 0
    failed: int = 0
    skipped: int = 0
    #: Meters that answered but not for every object (counted in ok: they were reached).
    partial: int = 0
    duration_seconds: float = 0.0
    #: error class -> serials of the meters that failed with it, or were read in part
    errors_by_class: dict[str, list[str]] = field(default_factory=dict)
    #: (serial, seconds) of the slowest meters, slowest first
    slowest: list[tuple[str, float]] = field(default_factory=list)

    @property
    def polled(self) -> int:
        return self.ok + self.failed


def summarize(
    states: Iterable[MeterState],
    skipped: int,
    started: datetime,
    finished: datetime,
    slowest: int = 5,
) -> SyncSummary:
    summary = SyncSummary(skipped=skipped, duration_seconds=(finished - started).total_seconds())
    by_class: dict[str, list[str]] = defaultdict(list)
    timings: list[tuple[str, float]] = []
    for state in states:
        serial = state.meter.serial or state.meter.label
        if state.ok or state.contacted:
            summary.ok += 1
            if not state.ok:  # partial: its failed objects are listed with the failures
                summary.partial += 1
                error_class, _ = main_error(state)
                by_class[error_class or "unknown"].append(serial)
        else:
            summary.failed += 1
            error_class, _ = main_error(state)
            by_class[error_class or "unknown"].append(serial)
        if state.finished_at is not None:
            timings.append((serial, (state.finished_at - state.polled_at).total_seconds()))
    summary.errors_by_class = _by_size(by_class)
    summary.slowest = sorted(timings, key=lambda item: -item[1])[:slowest]
    return summary


def total(summaries: Iterable[SyncSummary], slowest: int = 5) -> SyncSummary:
    """The summaries of the buckets one run read, as one."""
    combined = SyncSummary()
    by_class: dict[str, list[str]] = defaultdict(list)
    timings: list[tuple[str, float]] = []
    for summary in summaries:
        combined.ok += summary.ok
        combined.failed += summary.failed
        combined.skipped += summary.skipped
        combined.partial += summary.partial
        combined.duration_seconds = max(combined.duration_seconds, summary.duration_seconds)
        for name, serials in summary.errors_by_class.items():
            by_class[name].extend(serials)
        timings += summary.slowest
    combined.errors_by_class = _by_size(by_class)
    combined.slowest = sorted(timings, key=lambda item: -item[1])[:slowest]
    return combined


def _by_size(by_class: dict[str, list[str]]) -> dict[str, list[str]]:
    return {
        name: sorted(serials)
        for name, serials in sorted(by_class.items(), key=lambda i: -len(i[1]))
    }


def buckets_markdown(summaries: Mapping[Any, SyncSummary]) -> str:
    """One line per bucket (keyed by anything with a `key`): how its meters fared."""
    lines = ["| bucket | ok | failed | skipped |", "|---|---|---|---|"]
    lines += [
        f"| {bucket.key} | {summary.ok} | {summary.failed} | {summary.skipped} |"
        for bucket, summary in sorted(summaries.items(), key=lambda item: item[0].key)
    ]
    return "\n".join(lines)


def errors_markdown(summary: SyncSummary, max_serials: int = 20) -> str:
    if not summary.errors_by_class:
        return "No meter failed."
    lines = ["| error | meters | serials |", "|---|---|---|"]
    for name, serials in summary.errors_by_class.items():
        shown = ", ".join(serials[:max_serials])
        more = f" and {len(serials) - max_serials} more" if len(serials) > max_serials else ""
        lines.append(f"| {name} | {len(serials)} | {shown}{more} |")
    return "\n".join(lines)


def slowest_markdown(summary: SyncSummary) -> str:
    if not summary.slowest:
        return "No meter was polled."
    lines = ["| serial | seconds |", "|---|---|"]
    lines += [f"| {serial} | {seconds:.1f} |" for serial, seconds in summary.slowest]
    return "\n".join(lines)
