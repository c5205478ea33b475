"""Tariff sets as the Meter Domain page shapes them, and how they map onto meter objects."""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from . import objects as o
from . import values as v
from .errors import EncodeError

# Field -> object, for each set. Element A's future rate lives in block 8 rate 1 and element B's
# in TOU rate 1, which is where the meter copies them from on activation.
ACTIVE_TARIFF_OBJECTS: dict[str, o.EmopObject] = {
    "standing_charge": o.ACTIVE_STANDING_CHARGE,
    "unit_rate_element_a": o.ACTIVE_PRICE,
    "unit_rate_element_b": o.ACTIVE_ELEMENT_B_PRICE,
    "prepayment_ecredit_availability": o.ACTIVE_ECREDIT_AVAILABILITY,
    "prepayment_debt_recovery_rate": o.ACTIVE_DEBT_RECOVERY_RATE,
    "prepayment_emergency_credit": o.ACTIVE_EMERGENCY_CREDIT,
}
FUTURE_TARIFF_OBJECTS: dict[str, o.EmopObject] = {
    "standing_charge": o.FUTURE_STANDING_CHARGE,
    "unit_rate_element_a": o.FUTURE_BLOCK_8_RATE_1,
    "unit_rate_element_b": o.FUTURE_ELEMENT_B_TOU_RATE_1,
    "prepayment_ecredit_availability": o.FUTURE_ECREDIT_AVAILABILITY,
    "prepayment_debt_recovery_rate": o.FUTURE_DEBT_RECOVERY_RATE,
    "prepayment_emergency_credit": o.FUTURE_EMERGENCY_CREDIT,
    "activation_datetime": o.FUTURE_ACTIVATION,
}
MAX_RATE = Decimal("1.00")


@dataclass(frozen=True)
class Tariff:
    """One tariff set. Money in GBP: standing charge and debt recovery per day, rates per kWh.

    `activation_datetime` (future sets only) is the meter's wall-clock time of activation: UTC on
    meters without daylight-saving correction, UK local time on meters with it. It is therefore
    naive, exactly as the meter holds it.
    """

    standing_charge: Decimal
    unit_rate_element_a: Decimal
    unit_rate_element_b: Decimal
    prepayment_ecredit_availability: Decimal
    prepayment_debt_recovery_rate: Decimal
    prepayment_emergency_credit: Decimal
    activation_datetime: datetime | None = None

    def to_json(self) -> dict[str, Any]:
        """The Meter Domain page's tariff JSON: numbers, and an ISO activation time."""
        out: dict[str, Any] = {}
        for field in fields(self):
            value = getattr(self, field.name)
            if isinstance(value, Decimal):
                out[field.name] = float(value)
            elif isinstance(value, datetime):
                out[field.name] = value.isoformat()
        return out

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Tariff:
        activation = data.get("activation_datetime")
        return cls(
            **{
                name: Decimal(str(data[name]))
                for name in ACTIVE_TARIFF_OBJECTS  # the six money fields
            },
            activation_datetime=datetime.fromisoformat(activation) if activation else None,
        )


#: The six money fields of a tariff set, in the Meter Domain page's JSON order: the one list
#: that every other declaration (object maps, requests, pushes, checks, the simulator) follows.
TARIFF_MONEY_FIELDS: tuple[str, ...] = tuple(
    field.name for field in fields(Tariff) if field.name != "activation_datetime"
)


def activation_from_emop_seconds(seconds: int) -> datetime:
    return v.datetime_from_emop_seconds(seconds).replace(tzinfo=None)


def activation_to_emop_seconds(wall_time: datetime) -> int:
    return v.emop_seconds_from_datetime(wall_time.replace(tzinfo=UTC))


#: The meter holds a future tariff's activation as an unsigned 32-bit count of seconds since
#: 2000-01-01 00:00 on its own wall clock, so this (naive, 2136-02-07 06:28:15) is the last
#: activation it can store.
LAST_ACTIVATION = activation_from_emop_seconds(0xFFFFFFFF)


def activation_limit_error(wall_time: datetime) -> str | None:
    """Why a meter cannot store this wall-clock activation time; None when it can."""
    if wall_time > LAST_ACTIVATION:
        return (
            f"after {LAST_ACTIVATION.isoformat()}, the last activation time a meter can store "
            "(32-bit seconds since 2000-01-01 on its clock)"
        )
    if wall_time < v.EMOP_EPOCH.replace(tzinfo=None):
        return "before 2000-01-01T00:00:00, where a meter's activation time begins"
    return None


def validate_for_meter(tariff: Tariff) -> None:
    """The limits meters enforce: rates and standing charge at most £1.00, 5 decimal places, an
    activation time they can count."""
    for name in ACTIVE_TARIFF_OBJECTS:
        # First, as it refuses NaN and infinities, which cannot be compared with the limit.
        v.units_from_money(getattr(tariff, name))  # raises on more than 5 places
    for name in ("standing_charge", "unit_rate_element_a", "unit_rate_element_b"):
        value = getattr(tariff, name)
        if value > MAX_RATE:
            raise EncodeError(f"{name} £{value} is over the meter's £{MAX_RATE} limit")
    if tariff.activation_datetime is None:
        raise EncodeError("a future tariff needs an activation_datetime")
    error = activation_limit_error(tariff.activation_datetime)
    if error is not None:
        wall_time = tariff.activation_datetime.isoformat()
        raise EncodeError(f"activation_datetime {wall_time} is {error}")


def future_tariff_writes(tariff: Tariff) -> list[tuple[o.EmopObject, bytes]]:
    """The writes that set a future tariff, activation time last so a half-written set never
    activates."""
    validate_for_meter(tariff)
    assert tariff.activation_datetime is not None
    return [
        (o.FUTURE_THRESHOLD_MASK, v.encode_u8(0)),
        (o.FUTURE_THRESHOLD_VALUES, bytes(14)),
        (o.FUTURE_TOU_FLAG, v.encode_u8(0)),
        (o.FUTURE_BLOCK_8_RATE_1, v.encode_money(tariff.unit_rate_element_a)),
        (o.FUTURE_ELEMENT_B_TOU_RATE_1, v.encode_money(tariff.unit_rate_element_b)),
        (o.FUTURE_EMERGENCY_CREDIT, v.encode_money(tariff.prepayment_emergency_credit)),
        (o.FUTURE_ECREDIT_AVAILABILITY, v.encode_money(tariff.prepayment_ecredit_availability)),
        (o.FUTURE_DEBT_RECOVERY_RATE, v.encode_money(tariff.prepayment_debt_recovery_rate)),
        (o.FUTURE_GAS, v.encode_u32(0)),
        (o.FUTURE_STANDING_CHARGE, v.encode_money(tariff.standing_charge)),
        (
            o.FUTURE_ACTIVATION,
            v.encode_u32(activation_to_emop_seconds(tariff.activation_datetime)),
        ),
    ]
