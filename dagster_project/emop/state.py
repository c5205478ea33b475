"""What one read of a meter returns: every value the pipeline needs, or why it is missing."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

from .errors import (
    DecodeError,
    EmopError,
    IdentityMismatchError,
    MeterUnreachableError,
    NakError,
    TooManyNaksError,
)
from .tariffs import Tariff
from .values import ElementRegisters

#: Errors that are answers from the meter: a read stopped by one still reached the meter.
_ANSWERS = (NakError, TooManyNaksError, IdentityMismatchError, DecodeError)


@dataclass(frozen=True)
class MeterEndpoint:
    """Where a meter answers, and the serial it is known by. The client checks that the meter
    reports this serial before using its answers or writing to it (None: no check)."""

    host: str
    port: int = 8080
    serial: str | None = None

    @property
    def label(self) -> str:
        where = f"{self.host}:{self.port}"
        return f"{self.serial} ({where})" if self.serial else where


@dataclass
class MeterState:
    """One snapshot of a meter. A value is None when its read failed; `errors` says why, and
    `read_ok` lists the objects read successfully, in read order."""

    meter: MeterEndpoint
    polled_at: datetime
    finished_at: datetime | None = None
    serial: str | None = None
    hardware: str | None = None
    firmware: str | None = None
    clock: datetime | None = None
    clock_time_diff_seconds: int | None = None
    csq: int | None = None
    csq_operator: int | None = None
    voltage: Decimal | None = None
    element_a: ElementRegisters | None = None
    element_b: ElementRegisters | None = None
    prepay_balance: Decimal | None = None
    prepay_enabled: bool | None = None
    dst_enabled: bool | None = None
    tariffs_active: Tariff | None = None
    tariffs_future: Tariff | None = None
    errors: dict[str, EmopError] = field(default_factory=dict)
    read_ok: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def contacted(self) -> bool:
        """At least one object was read from the meter, its identity confirmed (objects are
        only read once the meter reports the registered serial, when the registry gives one)."""
        return bool(self.read_ok)

    @property
    def partial(self) -> bool:
        """Contacted, but some object failed: the values read are good, the others missing."""
        return self.contacted and bool(self.errors)

    @property
    def reachable(self) -> bool:
        """False when the meter could not be talked to at all: the read stopped at a failure
        to connect or to get an answer, before anything was read."""
        if self.serial is not None or self.read_ok:
            return True
        stopped = any(isinstance(error, MeterUnreachableError) for error in self.errors.values())
        return not stopped or isinstance(self.first_error, _ANSWERS)

    @property
    def emergency_credit(self) -> Decimal | None:
        if self.tariffs_active is None:
            return None
        return self.tariffs_active.prepayment_emergency_credit

    @property
    def first_error(self) -> EmopError | None:
        return next(iter(self.errors.values()), None)

    def to_json(self) -> dict[str, Any]:
        def plain(value: Any) -> Any:
            if isinstance(value, Decimal):
                return float(value)
            if isinstance(value, datetime):
                return value.isoformat()
            if isinstance(value, ElementRegisters):
                return vars(value)
            if isinstance(value, Tariff):
                return value.to_json()
            return value

        out = {
            name: plain(getattr(self, name))
            for name in (
                "polled_at",
                "finished_at",
                "serial",
                "hardware",
                "firmware",
                "clock",
                "clock_time_diff_seconds",
                "csq",
                "csq_operator",
                "voltage",
                "element_a",
                "element_b",
                "prepay_balance",
                "emergency_credit",
                "prepay_enabled",
                "dst_enabled",
                "tariffs_active",
                "tariffs_future",
            )
        }
        out["meter"] = {"host": self.meter.host, "port": self.meter.port}
        out["read_ok"] = list(self.read_ok)
        out["contacted"] = self.contacted
        out["partial"] = self.partial
        out["errors"] = {
            name: {"kind": error.kind, "message": str(error)} for name, error in self.errors.items()
        }
        return out
