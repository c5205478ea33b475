"""The object catalogue: each readable or writable object's id, name, access, size and codec."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, NamedTuple

from . import values as v
from .errors import DecodeError

READ = "read"
WRITE = "write"
READ_WRITE = "read-write"


@dataclass(frozen=True)
class EmopObject:
    """One object: its name, 24-bit id, value codec, who may read and write it, value size."""

    name: str
    object_id: int
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    writable: bool = False
    #: False for write-only objects (a top-up token cannot be read back).
    readable: bool = True
    #: Bytes of the value; None where it varies.
    size: int | None = None
    #: False for objects only three-phase meters serve; a single-phase meter refuses them.
    single_phase: bool = True

    @property
    def id_bytes(self) -> bytes:
        return self.object_id.to_bytes(3, "big")

    @property
    def access(self) -> str:
        if self.readable and self.writable:
            return READ_WRITE
        return WRITE if self.writable else READ

    def __str__(self) -> str:
        return f"{self.name} ({self.object_id:06X})"


class Codec(NamedTuple):
    decode: Callable[[bytes], Any]
    encode: Callable[[Any], bytes]
    size: int | None


def decode_raw(payload: bytes) -> bytes:
    """Bytes whose layout is not documented, kept as they are."""
    return bytes(payload)


def encode_raw(value: bytes) -> bytes:
    return bytes(value)


def _raw(size: int) -> Codec:
    def decode(payload: bytes) -> bytes:
        if len(payload) != size:
            raise DecodeError(f"needs {size} bytes, got {len(payload)}", received=payload)
        return bytes(payload)

    return Codec(decode, encode_raw, size)


U8 = Codec(v.decode_u8, v.encode_u8, 1)
U16 = Codec(v.decode_u16, v.encode_u16, 2)
U32 = Codec(v.decode_u32, v.encode_u32, 4)
FLAG = Codec(v.decode_flag, v.encode_flag, 1)
MONEY = Codec(v.decode_money, v.encode_money, 4)
VOLTS = Codec(v.decode_voltage, v.encode_voltage, 2)
TENTHS = Codec(v.decode_tenths, v.encode_tenths, 2)
HUNDREDTHS = Codec(v.decode_hundredths, v.encode_hundredths, 2)
REGISTERS = Codec(v.decode_registers, v.encode_registers, 16)
THRESHOLDS = Codec(v.decode_thresholds, v.encode_thresholds, 14)
TIME_SWITCHES = _raw(80)

_CATALOGUE: list[EmopObject] = []


def _define(
    name: str,
    object_id: int,
    codec: Codec,
    access: str = READ,
    *,
    single_phase: bool = True,
) -> EmopObject:
    obj = EmopObject(
        name,
        object_id,
        codec.decode,
        codec.encode,
        writable=access in (WRITE, READ_WRITE),
        readable=access in (READ, READ_WRITE),
        size=codec.size,
        single_phase=single_phase,
    )
    _CATALOGUE.append(obj)
    return obj


# ---------------------------------------------------------------- identity, clock, comms

SERIAL = _define("serial", 0x600100, Codec(v.decode_ascii, lambda s: v.encode_ascii(s, 16), 16))
HARDWARE = _define("hardware_version", 0x608000, Codec(v.decode_hardware, v.encode_hardware, 4))
FIRMWARE = _define("firmware_version", 0x000201, Codec(v.decode_firmware, v.encode_firmware, 4))
CLOCK = _define("time", 0x800800, Codec(v.decode_time_record, v.encode_time_record, 7), READ_WRITE)
DST_FLAG = _define("daylight_savings_correction_flag", 0xFFFF0B, FLAG, READ_WRITE)
CSQ = _define("csq_net_op", 0xFFFD1D, Codec(v.decode_signal_quality, v.encode_signal_quality, 1))

# ---------------------------------------------------------------- instantaneous measurements

VOLTAGE = _define("instantaneous_voltage", 0x0C0700, VOLTS)
AVERAGE_VOLTAGE = _define("average_voltage", 0x0C1800, VOLTS)
CURRENT = _define("instantaneous_current", 0x0B0700, TENTHS)  # A
AVERAGE_CURRENT = _define("average_current", 0x0B1800, TENTHS)  # A
ACTIVE_POWER = _define("instantaneous_active_power", 0x010700, U16)  # W
ELEMENT_A_ACTIVE_POWER = _define("element_a_instantaneous_active_power_import", 0x150700, U16)
ELEMENT_B_ACTIVE_POWER = _define("element_b_instantaneous_active_power_import", 0x290700, U16)
REACTIVE_POWER = _define("instantaneous_reactive_power", 0x030700, U16)  # var
POWER_FACTOR = _define("instantaneous_power_factor", 0x0D0700, HUNDREDTHS)
FREQUENCY = _define("instantaneous_frequency", 0x0E0700, TENTHS)  # Hz
AVERAGE_FREQUENCY = _define("average_frequency", 0x0E1800, TENTHS)  # Hz

# ---------------------------------------------------------------- energy registers

ELEMENT_A = _define("read_element_a", 0xFFFFFC, REGISTERS)
ELEMENT_B = _define("read_element_b", 0xFFFFF8, REGISTERS)
TOTAL_ACTIVE_IMPORT = _define("total_active_import", 0x010800, U32)  # Wh
TOTAL_ACTIVE_EXPORT = _define("total_active_export", 0x020800, U32)  # Wh

# ---------------------------------------------------------------- prepayment

PREPAY_BALANCE = _define(
    "prepay_balance", 0xFFC802, Codec(v.decode_signed_money, v.encode_signed_money, 4)
)
PREPAY_TOKEN = _define(
    "prepay_token_send", 0xFFC803, Codec(v.decode_ascii, lambda t: v.encode_ascii(t, 20), 20), WRITE
)
PREPAY_ENABLED = _define("prepay_enabled_flag", 0xFFFF0D, FLAG, READ_WRITE)
PREPAY_NO_DEBT_RECOVERY_IN_EMERGENCY = _define(
    "prepay_no_debt_recovery_when_emergency_credit_flag", 0xFFFF0E, FLAG
)
PREPAY_NO_STANDING_CHARGE_IN_POWER_FAIL = _define(
    "prepay_no_standing_charge_when_power_fail_flag", 0xFFFF0F, FLAG
)
TRANSACTION_COUNT = _define("monetary_info_transaction_count", 0xFFC83E, U16)
TRANSACTION_DETAILS = _define(
    "monetary_info_transaction_details",
    0xFFC840,
    Codec(v.decode_transaction_details, v.encode_transaction_details, v.TRANSACTION_DETAILS_SIZE),
)

# ---------------------------------------------------------------- tariffs
# The active set is read only: the meter copies the future set into it on activation. Element
# A's price is block 8 rate 1 of a set and element B's is its TOU rate 1.

BLOCKS = RATES = 8
ELEMENT_B_TOU_RATES = 4


def _block_rates(set_name: str, base: int, access: str) -> dict[tuple[int, int], EmopObject]:
    """Blocks 1-8 x rates 1-8: id = base + 8 (block - 1) + rate."""
    return {
        (block, rate): _define(
            f"tariff_{set_name}_block_{block}_rate_{rate}",
            base + RATES * (block - 1) + rate,
            MONEY,
            access,
        )
        for block in range(1, BLOCKS + 1)
        for rate in range(1, RATES + 1)
    }


def _tou_rates(set_name: str, base: int, access: str) -> dict[int, EmopObject]:
    return {
        rate: _define(f"tariff_{set_name}_element_b_tou_rate_{rate}", base + rate, MONEY, access)
        for rate in range(1, ELEMENT_B_TOU_RATES + 1)
    }


ACTIVE_STANDING_CHARGE = _define("tariff_active_standing_charge", 0xFFFF22, MONEY)
ACTIVE_PRICE = _define("tariff_active_price", 0xFFFF2E, MONEY)
ACTIVE_ELEMENT_B_PRICE = _define("tariff_active_element_b_price", 0xFFFF4D, MONEY)
ACTIVE_EMERGENCY_CREDIT = _define("tariff_active_prepayment_emergency_credit", 0xFFC805, MONEY)
ACTIVE_ECREDIT_AVAILABILITY = _define(
    "tariff_active_prepayment_ecredit_availability", 0xFFC806, MONEY
)
ACTIVE_DEBT_RECOVERY_RATE = _define("tariff_active_prepayment_debt_recovery_rate", 0xFFC807, MONEY)
ACTIVE_THRESHOLD_MASK = _define("tariff_active_threshold_mask", 0xFFFF20, U8)  # bit n: rate n+1
ACTIVE_THRESHOLD_VALUES = _define("tariff_active_threshold_values", 0xFFFF1E, THRESHOLDS)
ACTIVE_BLOCK_RATE = _define("tariff_active_block_rate", 0xFFFF2C, U8)  # index 0-7
ACTIVE_TOU_RATE = _define("tariff_active_tou_rate", 0xFFFF2B, U8)  # index 0-7
ACTIVE_PRICE_INDEX = _define("tariff_active_price_index_current", 0xFFFF2D, U8)
ACTIVE_ELEMENT_B_TOU_RATE = _define("tariff_active_element_b_tou_rate", 0xFFFF4B, U8)  # 0-3
ACTIVE_ELEMENT_B_PRICE_INDEX = _define("tariff_active_element_b_price_index_current", 0xFFFF4C, U8)
ACTIVE_TOU_FLAG = _define("tariff_active_tou_flag", 0xFFFF4E, U8)
ACTIVE_GAS = _define("tariff_active_gas", 0xFFC964, U32)
ACTIVE_ELEMENT_B_TOU_RATES = _tou_rates("active", 0xFFF700, READ)
ACTIVE_BLOCK_RATES = _block_rates("active", 0xFFF900, READ)
ACTIVE_ELEMENT_B_TOU_RATE_1 = ACTIVE_ELEMENT_B_TOU_RATES[1]
ACTIVE_BLOCK_8_RATE_1 = ACTIVE_BLOCK_RATES[8, 1]

# The future set: written by the head-end, activated by the meter's own clock.
FUTURE_STANDING_CHARGE = _define("tariff_future_standing_charge", 0xFFFF23, MONEY, READ_WRITE)
FUTURE_ACTIVATION = _define("tariff_future_activation_datetime", 0xFFFF24, U32, READ_WRITE)
FUTURE_EMERGENCY_CREDIT = _define(
    "tariff_future_prepayment_emergency_credit", 0xFFC808, MONEY, READ_WRITE
)
FUTURE_ECREDIT_AVAILABILITY = _define(
    "tariff_future_prepayment_ecredit_availability", 0xFFC809, MONEY, READ_WRITE
)
FUTURE_DEBT_RECOVERY_RATE = _define(
    "tariff_future_prepayment_debt_recovery_rate", 0xFFC80A, MONEY, READ_WRITE
)
FUTURE_THRESHOLD_MASK = _define("tariff_future_threshold_mask", 0xFFFF21, U8, READ_WRITE)
FUTURE_THRESHOLD_VALUES = _define(
    "tariff_future_threshold_values", 0xFFFF1F, THRESHOLDS, READ_WRITE
)
FUTURE_TOU_FLAG = _define("tariff_future_tou_flag", 0xFFFF4F, U8, READ_WRITE)
FUTURE_GAS = _define("tariff_future_gas", 0xFFC965, U32, READ_WRITE)
FUTURE_ELEMENT_B_TOU_RATES = _tou_rates("future", 0xFFF600, READ_WRITE)
FUTURE_BLOCK_RATES = _block_rates("future", 0xFFF800, READ_WRITE)
FUTURE_ELEMENT_B_TOU_RATE_1 = FUTURE_ELEMENT_B_TOU_RATES[1]
FUTURE_BLOCK_8_RATE_1 = FUTURE_BLOCK_RATES[8, 1]

#: Each active-set object that activation overwrites -> the future-set object it comes from.
ACTIVATION_SOURCES: dict[EmopObject, EmopObject] = {
    ACTIVE_STANDING_CHARGE: FUTURE_STANDING_CHARGE,
    ACTIVE_PRICE: FUTURE_BLOCK_8_RATE_1,
    ACTIVE_ELEMENT_B_PRICE: FUTURE_ELEMENT_B_TOU_RATE_1,
    ACTIVE_EMERGENCY_CREDIT: FUTURE_EMERGENCY_CREDIT,
    ACTIVE_ECREDIT_AVAILABILITY: FUTURE_ECREDIT_AVAILABILITY,
    ACTIVE_DEBT_RECOVERY_RATE: FUTURE_DEBT_RECOVERY_RATE,
    ACTIVE_THRESHOLD_MASK: FUTURE_THRESHOLD_MASK,
    ACTIVE_THRESHOLD_VALUES: FUTURE_THRESHOLD_VALUES,
    ACTIVE_TOU_FLAG: FUTURE_TOU_FLAG,
    ACTIVE_GAS: FUTURE_GAS,
    **{
        ACTIVE_ELEMENT_B_TOU_RATES[n]: FUTURE_ELEMENT_B_TOU_RATES[n]
        for n in ACTIVE_ELEMENT_B_TOU_RATES
    },
    **{ACTIVE_BLOCK_RATES[key]: FUTURE_BLOCK_RATES[key] for key in ACTIVE_BLOCK_RATES},
}

# ---------------------------------------------------------------- settings
# The backlight, the load switch and the time switches are set by the head-end; the number of
# decimal places the display shows is read only.

BACKLIGHT = _define("backlight", 0xFFFF10, U8, READ_WRITE)
LOAD_SWITCH = _define("load_switch", 0xFFFF11, U8, READ_WRITE)
DECIMAL_PLACES = _define("decimal_places_displayed_in_energy_registers", 0xFFFF0C, U8)
TIME_SWITCH_ELEMENT_A = _define(
    "tariff_time_switch_element_a_or_single", 0x0D0000, TIME_SWITCHES, READ_WRITE
)
TIME_SWITCH_ELEMENT_B = _define("tariff_time_switch_element_b", 0x0D00FF, TIME_SWITCHES, READ_WRITE)

# Backlight (single phase): 0 normal, 102 always off, 119 always on.
BACKLIGHT_SETTINGS = frozenset({0, 102, 119})
# Load switch: 0 button always, 102 no button in prepay, 119 no button in credit, 136 never.
LOAD_SWITCH_SETTINGS = frozenset({0, 102, 119, 136})

# ---------------------------------------------------------------- answered, meaning unknown

#: Objects real single-phase meters answer whose meaning is not known, with the value one gave.
UNIDENTIFIED_VALUES: dict[int, bytes] = {
    0x0C2300: bytes.fromhex("FD00"),
    0x0C1F00: bytes.fromhex("CF00"),
    0x0C8000: bytes.fromhex("1E00"),
    0x800401: bytes.fromhex("1E00"),
    0x800501: bytes.fromhex("E803"),
    0x0D0001: bytes(8),
    0x800801: bytes(4),
    0x800103: bytes.fromhex("0111") + b"\xff" * 14,
    0x800104: bytes.fromhex("01000000000000"),
    0x800102: bytes.fromhex("00"),
    0x0D0003: bytes.fromhex("00"),
    0x800802: bytes.fromhex("01"),
    0x800101: bytes.fromhex("02"),
}
UNIDENTIFIED: tuple[EmopObject, ...] = tuple(
    _define(f"unidentified_{object_id:06x}", object_id, _raw(len(value)))
    for object_id, value in UNIDENTIFIED_VALUES.items()
)

# ---------------------------------------------------------------- three-phase meters only

_3P = {"single_phase": False}
THREE_PHASE_HARDWARE_CONFIGURATION = _define(
    "three_phase_hardware_configuration", 0x000503, _raw(4), **_3P
)
THREE_PHASE_SERIAL = _define(
    "three_phase_serial",
    0xD7FF10,
    Codec(v.decode_ascii, lambda s: v.encode_ascii(s, 16), 16),
    **_3P,
)
THREE_PHASE_VOLTAGES = tuple(
    _define(f"three_phase_instantaneous_voltage_l{phase}", object_id, VOLTS, **_3P)
    for phase, object_id in ((1, 0x200700), (2, 0x340700), (3, 0x480700))
)
THREE_PHASE_TOTALS = tuple(
    _define(f"three_phase_total_{name}", object_id, U32, **_3P)
    for name, object_id in (
        ("reactive_import", 0x030800),
        ("reactive_export", 0x040800),
        ("apparent_import", 0x090800),
        ("apparent_export", 0x100800),
    )
)

ALL_OBJECTS: tuple[EmopObject, ...] = tuple(_CATALOGUE)
BY_ID: dict[int, EmopObject] = {obj.object_id: obj for obj in ALL_OBJECTS}
BY_NAME: dict[str, EmopObject] = {obj.name: obj for obj in ALL_OBJECTS}
#: What a single-phase meter serves (the rest it answers with NAK 5).
SINGLE_PHASE_OBJECTS: tuple[EmopObject, ...] = tuple(obj for obj in ALL_OBJECTS if obj.single_phase)
THREE_PHASE_ONLY: tuple[EmopObject, ...] = tuple(obj for obj in ALL_OBJECTS if not obj.single_phase)
if len(BY_ID) != len(ALL_OBJECTS) or len(BY_NAME) != len(ALL_OBJECTS):
    raise RuntimeError("the object catalogue repeats an id or a name")
