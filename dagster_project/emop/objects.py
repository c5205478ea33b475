"""The object catalogue: each readable or writable object's id, name and value codec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import values as v
from .errors import DecodeError


@dataclass(frozen=True)
class EmopObject:
    name: str
    object_id: int
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    writable: bool = False

    @property
    def id_bytes(self) -> bytes:
        return self.object_id.to_bytes(3, "big")

    def __str__(self) -> str:
        return f"{self.name} ({self.object_id:06X})"


def _fixed(size: int) -> Callable[[bytes], bytes]:
    def decode(payload: bytes) -> bytes:
        if len(payload) != size:
            raise DecodeError(f"needs {size} bytes, got {len(payload)}", received=payload)
        return payload

    return decode


def _raw(value: bytes) -> bytes:
    return value


SERIAL = EmopObject("serial", 0x600100, v.decode_ascii, lambda s: v.encode_ascii(s, 16))
HARDWARE = EmopObject("hardware_version", 0x608000, v.decode_hardware, v.encode_hardware)
FIRMWARE = EmopObject("firmware_version", 0x000201, v.decode_firmware, v.encode_firmware)
CLOCK = EmopObject("time", 0x800800, v.decode_time_record, v.encode_time_record, writable=True)
DST_FLAG = EmopObject(
    "daylight_savings_correction_flag", 0xFFFF0B, v.decode_flag, v.encode_flag, writable=True
)
CSQ = EmopObject("csq_net_op", 0xFFFD1D, v.decode_signal_quality, v.encode_signal_quality)
VOLTAGE = EmopObject("instantaneous_voltage", 0x0C0700, v.decode_voltage, v.encode_voltage)
ELEMENT_A = EmopObject("read_element_a", 0xFFFFFC, v.decode_registers, v.encode_registers)
ELEMENT_B = EmopObject("read_element_b", 0xFFFFF8, v.decode_registers, v.encode_registers)
PREPAY_BALANCE = EmopObject(
    "prepay_balance", 0xFFC802, v.decode_signed_money, v.encode_signed_money
)
PREPAY_ENABLED = EmopObject(
    "prepay_enabled_flag", 0xFFFF0D, v.decode_flag, v.encode_flag, writable=True
)
PREPAY_TOKEN = EmopObject(
    "prepay_token_send", 0xFFC803, v.decode_ascii, lambda t: v.encode_ascii(t, 20), writable=True
)

# The active tariff set (read only; the meter copies the future set here on activation).
ACTIVE_STANDING_CHARGE = EmopObject(
    "tariff_active_standing_charge", 0xFFFF22, v.decode_money, v.encode_money
)
ACTIVE_PRICE = EmopObject("tariff_active_price", 0xFFFF2E, v.decode_money, v.encode_money)
ACTIVE_BLOCK_8_RATE_1 = EmopObject(
    "tariff_active_block_8_rate_1", 0xFFF939, v.decode_money, v.encode_money
)
ACTIVE_ELEMENT_B_PRICE = EmopObject(
    "tariff_active_element_b_price", 0xFFFF4D, v.decode_money, v.encode_money
)
ACTIVE_ELEMENT_B_TOU_RATE_1 = EmopObject(
    "tariff_active_element_b_tou_rate_1", 0xFFF701, v.decode_money, v.encode_money
)
ACTIVE_EMERGENCY_CREDIT = EmopObject(
    "tariff_active_prepayment_emergency_credit", 0xFFC805, v.decode_money, v.encode_money
)
ACTIVE_ECREDIT_AVAILABILITY = EmopObject(
    "tariff_active_prepayment_ecredit_availability", 0xFFC806, v.decode_money, v.encode_money
)
ACTIVE_DEBT_RECOVERY_RATE = EmopObject(
    "tariff_active_prepayment_debt_recovery_rate", 0xFFC807, v.decode_money, v.encode_money
)

# The future tariff set (written by the head-end, activated by the meter's clock).
_W = {"writable": True}
FUTURE_STANDING_CHARGE = EmopObject(
    "tariff_future_standing_charge", 0xFFFF23, v.decode_money, v.encode_money, **_W
)
FUTURE_ACTIVATION = EmopObject(
    "tariff_future_activation_datetime", 0xFFFF24, v.decode_u32, v.encode_u32, **_W
)
FUTURE_BLOCK_8_RATE_1 = EmopObject(
    "tariff_future_block_8_rate_1", 0xFFF839, v.decode_money, v.encode_money, **_W
)
FUTURE_ELEMENT_B_TOU_RATE_1 = EmopObject(
    "tariff_future_element_b_tou_rate_1", 0xFFF601, v.decode_money, v.encode_money, **_W
)
FUTURE_EMERGENCY_CREDIT = EmopObject(
    "tariff_future_prepayment_emergency_credit", 0xFFC808, v.decode_money, v.encode_money, **_W
)
FUTURE_ECREDIT_AVAILABILITY = EmopObject(
    "tariff_future_prepayment_ecredit_availability",
    0xFFC809,
    v.decode_money,
    v.encode_money,
    **_W,
)
FUTURE_DEBT_RECOVERY_RATE = EmopObject(
    "tariff_future_prepayment_debt_recovery_rate", 0xFFC80A, v.decode_money, v.encode_money, **_W
)
FUTURE_THRESHOLD_MASK = EmopObject(
    "tariff_future_threshold_mask", 0xFFFF21, v.decode_u8, v.encode_u8, **_W
)
FUTURE_THRESHOLD_VALUES = EmopObject(
    "tariff_future_threshold_values", 0xFFFF1F, _fixed(14), _raw, **_W
)
FUTURE_TOU_FLAG = EmopObject("tariff_future_tou_flag", 0xFFFF4F, v.decode_u8, v.encode_u8, **_W)
FUTURE_GAS = EmopObject("tariff_future_gas", 0xFFC965, v.decode_u32, v.encode_u32, **_W)

ALL_OBJECTS: tuple[EmopObject, ...] = tuple(
    value for value in globals().values() if isinstance(value, EmopObject)
)
BY_ID: dict[int, EmopObject] = {obj.object_id: obj for obj in ALL_OBJECTS}
BY_NAME: dict[str, EmopObject] = {obj.name: obj for obj in ALL_OBJECTS}
