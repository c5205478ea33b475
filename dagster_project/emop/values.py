"""Value encodings: integers, money, EMOP timestamps, date-time records, strings and records.

Integers are little-endian unless said otherwise. Money is an integer count of 1/100 000 GBP.
Decoders raise DecodeError, encoders EncodeError, both naming the value they were given.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation, Overflow

from .errors import DecodeError, EncodeError

EMOP_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)
MONEY_SCALE = 100_000
MONEY_PLACES = Decimal("0.00001")
VOLTAGE_SCALE = Decimal("0.1")
TENTH = Decimal("0.1")
HUNDREDTH = Decimal("0.01")

# ---------------------------------------------------------------- integers


def _expect_size(payload: bytes, size: int, what: str) -> None:
    if len(payload) != size:
        raise DecodeError(f"{what} needs {size} bytes, got {len(payload)}", received=payload)


def decode_u8(payload: bytes) -> int:
    _expect_size(payload, 1, "u8")
    return payload[0]


def decode_u16(payload: bytes) -> int:
    _expect_size(payload, 2, "u16")
    return int.from_bytes(payload, "little")


def decode_u32(payload: bytes) -> int:
    _expect_size(payload, 4, "u32")
    return int.from_bytes(payload, "little")


def decode_s32(payload: bytes) -> int:
    _expect_size(payload, 4, "s32")
    return int.from_bytes(payload, "little", signed=True)


def encode_u8(value: int) -> bytes:
    return _encode_int(value, 1, signed=False)


def encode_u16(value: int) -> bytes:
    return _encode_int(value, 2, signed=False)


def encode_u32(value: int) -> bytes:
    return _encode_int(value, 4, signed=False)


def encode_s32(value: int) -> bytes:
    return _encode_int(value, 4, signed=True)


def _encode_int(value: int, size: int, *, signed: bool) -> bytes:
    try:
        return value.to_bytes(size, "little", signed=signed)
    except OverflowError:
        kind = f"{'s' if signed else 'u'}{size * 8}"
        raise EncodeError(f"{value} does not fit {kind}") from None


def decode_flag(payload: bytes) -> bool:
    value = decode_u8(payload)
    if value not in (0, 1):
        raise DecodeError(f"flag must be 0 or 1, got {value}", received=payload)
    return bool(value)


def encode_flag(value: bool) -> bytes:
    return bytes([1 if value else 0])


# ---------------------------------------------------------------- money


def money_from_units(units: int) -> Decimal:
    return (Decimal(units) / MONEY_SCALE).quantize(MONEY_PLACES)


def units_from_money(amount: Decimal | float | str) -> int:
    try:
        value = Decimal(str(amount))
    except InvalidOperation:
        raise EncodeError(f"{amount!r} is not an amount of money") from None
    if not value.is_finite():
        raise EncodeError(f"{amount!r} is not an amount of money")
    try:
        places_ok = value == value.quantize(MONEY_PLACES)
    except InvalidOperation:  # too many digits to hold to 5 places
        raise EncodeError(f"£{value} is too large an amount of money") from None
    if not places_ok:
        raise EncodeError(f"£{value} has more than 5 decimal places, which meters cannot store")
    return int(value * MONEY_SCALE)


def decode_money(payload: bytes) -> Decimal:
    """An unsigned amount (tariff values, credit settings)."""
    return money_from_units(decode_u32(payload))


def decode_signed_money(payload: bytes) -> Decimal:
    """A signed amount (the prepay balance, which goes negative)."""
    return money_from_units(decode_s32(payload))


def encode_money(amount: Decimal | float | str) -> bytes:
    units = units_from_money(amount)
    if units < 0:
        raise EncodeError(f"£{amount} is negative; tariff amounts are unsigned")
    return encode_u32(units)


def encode_signed_money(amount: Decimal | float | str) -> bytes:
    return encode_s32(units_from_money(amount))


# ---------------------------------------------------------------- time


def datetime_from_emop_seconds(seconds: int) -> datetime:
    return EMOP_EPOCH + timedelta(seconds=seconds)


def emop_seconds_from_datetime(moment: datetime) -> int:
    if moment.tzinfo is None:
        raise EncodeError(f"{moment.isoformat()} has no time zone; EMOP times are UTC")
    delta = moment - EMOP_EPOCH
    seconds = int(delta.total_seconds())
    if delta != timedelta(seconds=seconds):
        raise EncodeError(f"{moment.isoformat()} is not a whole second")
    if not 0 <= seconds <= 0xFFFFFFFF:
        raise EncodeError(f"{moment.isoformat()} is outside the EMOP time range")
    return seconds


def decode_emop_time(payload: bytes) -> datetime:
    return datetime_from_emop_seconds(decode_u32(payload))


def encode_emop_time(moment: datetime) -> bytes:
    return encode_u32(emop_seconds_from_datetime(moment))


def decode_time_record(payload: bytes) -> datetime:
    """The 7-byte date-time record: year-2000, month, day, hour, minute, second, weekday (0=Sun)."""
    _expect_size(payload, 7, "date-time record")
    year, month, day, hour, minute, second, _weekday = payload
    try:
        return datetime(2000 + year, month, day, hour, minute, second, tzinfo=UTC)
    except ValueError as error:
        raise DecodeError(f"invalid date-time record ({error})", received=payload) from None


def encode_time_record(moment: datetime) -> bytes:
    if moment.tzinfo is None:
        raise EncodeError(f"{moment.isoformat()} has no time zone; meter clocks are set in UTC")
    try:
        utc = moment.astimezone(UTC)
    except OverflowError:
        raise EncodeError(f"{moment.isoformat()} is outside the meter clock's years") from None
    if not 2000 <= utc.year <= 2255:
        raise EncodeError(f"{utc.isoformat()} is outside the meter clock's years 2000-2255")
    weekday = (utc.weekday() + 1) % 7  # Python: Monday=0; EMOP: Sunday=0
    return bytes((utc.year - 2000, utc.month, utc.day, utc.hour, utc.minute, utc.second, weekday))


# ---------------------------------------------------------------- strings and identity


def decode_ascii(payload: bytes) -> str:
    try:
        return payload.decode("ascii").strip("\x00 ")
    except UnicodeDecodeError:
        raise DecodeError("not ASCII text", received=payload) from None


def encode_ascii(text: str, size: int) -> bytes:
    try:
        raw = text.encode("ascii")
    except UnicodeEncodeError:
        raise EncodeError(f"{text!r} is not ASCII text") from None
    if len(raw) > size:
        raise EncodeError(f"{text!r} is longer than {size} bytes")
    return raw.ljust(size, b" ")


HARDWARE_MODELS = {"6C": "C1.w", "6Cw": "C1.w", "6Bw": "B1.w", "3Aw": "EMA1.w"}
HARDWARE_CODES = {"C1.w": "6Cw", "B1.w": "6Bw", "EMA1.w": "3Aw"}
UNKNOWN_SINGLE_PHASE = "SINGLE_PHASE_UNKNOWN"
THREE_PHASE = "THREE_PHASE"
TWIN_ELEMENT_MODELS = frozenset({"C1.w"})


def decode_hardware(payload: bytes) -> str:
    """The meter model: C1.w (twin element), B1.w, EMA1.w; empty means a three-phase meter."""
    code = decode_ascii(payload)
    if not code:
        return THREE_PHASE
    return HARDWARE_MODELS.get(code, UNKNOWN_SINGLE_PHASE)


def encode_hardware(model: str) -> bytes:
    if model == THREE_PHASE:
        return b""  # three-phase meters answer with an empty payload
    return encode_ascii(HARDWARE_CODES.get(model, model), 4)


def decode_firmware(payload: bytes) -> str:
    """Single-phase firmware '3032' is shown as '3_03_2'; anything else as hex."""
    try:
        text = payload.decode("ascii")
    except UnicodeDecodeError:
        return payload.hex()
    if len(text) == 4 and text.isprintable():
        return f"{text[0]}_{text[1:3]}_{text[3]}"
    return payload.hex()


def encode_firmware(display: str) -> bytes:
    """The 4 characters behind '3_02_0' (or '3020' itself); the characters may include '_'."""
    if len(display) == 6 and display[1] == "_" and display[4] == "_":
        raw = display[0] + display[2:4] + display[5]
    elif len(display) == 4:
        raw = display
    else:
        raise EncodeError(f"firmware {display!r} is not in the 4-character single-phase form")
    try:
        return raw.encode("ascii")
    except UnicodeEncodeError:
        raise EncodeError(f"firmware {display!r} is not ASCII") from None


# ---------------------------------------------------------------- measurements and records


@dataclass(frozen=True)
class SignalQuality:
    csq: int  # 0-31, higher is better
    operator: int  # network operator code, 0-7

    def __post_init__(self) -> None:
        if not 0 <= self.csq <= 31:
            raise ValueError(f"CSQ must be 0-31, got {self.csq}")
        if not 0 <= self.operator <= 7:
            raise ValueError(f"operator must be 0-7, got {self.operator}")


def decode_signal_quality(payload: bytes) -> SignalQuality:
    byte = decode_u8(payload)
    return SignalQuality(csq=byte & 0x1F, operator=byte >> 5)


def encode_signal_quality(value: SignalQuality) -> bytes:
    return bytes([(value.operator << 5) | value.csq])


def decode_voltage(payload: bytes) -> Decimal:
    return Decimal(decode_u16(payload)) * VOLTAGE_SCALE


def encode_voltage(volts: Decimal) -> bytes:
    try:
        tenths = Decimal(str(volts)) / VOLTAGE_SCALE
        whole = tenths.is_finite() and tenths == tenths.to_integral_value()
    except (InvalidOperation, Overflow):
        raise EncodeError(f"{volts!r} is not a voltage") from None
    if not whole:
        raise EncodeError(f"{volts} V is not a whole number of 0.1 V")
    if not 0 <= tenths <= 0xFFFF:
        raise EncodeError(f"{volts} V does not fit u16 in 0.1 V")
    return encode_u16(int(tenths))


def _decode_scaled_u16(payload: bytes, scale: Decimal) -> Decimal:
    return Decimal(decode_u16(payload)) * scale


def _encode_scaled_u16(value: Decimal, scale: Decimal) -> bytes:
    try:
        steps = Decimal(str(value)) / scale
        if not steps.is_finite():
            raise InvalidOperation
        whole = steps == steps.to_integral_value()
    except (InvalidOperation, Overflow):
        raise EncodeError(f"{value!r} is not a number") from None
    if not whole:
        raise EncodeError(f"{value} is not a whole number of {scale}")
    if not 0 <= steps <= 0xFFFF:
        raise EncodeError(f"{value} does not fit u16 in steps of {scale}")
    return encode_u16(int(steps))


def decode_tenths(payload: bytes) -> Decimal:
    """A u16 in steps of 0.1 (current in A, frequency in Hz)."""
    return _decode_scaled_u16(payload, TENTH)


def encode_tenths(value: Decimal) -> bytes:
    return _encode_scaled_u16(value, TENTH)


def decode_hundredths(payload: bytes) -> Decimal:
    """A u16 in steps of 0.01 (the power factor)."""
    return _decode_scaled_u16(payload, HUNDREDTH)


def encode_hundredths(value: Decimal) -> bytes:
    return _encode_scaled_u16(value, HUNDREDTH)


THRESHOLD_COUNT = 7
_THRESHOLDS = struct.Struct(f"<{THRESHOLD_COUNT}H")


def decode_thresholds(payload: bytes) -> tuple[int, ...]:
    """A tariff's seven block thresholds th1..th7, u16 each (their unit is not documented)."""
    _expect_size(payload, _THRESHOLDS.size, "tariff threshold values")
    return _THRESHOLDS.unpack(payload)


def encode_thresholds(values: tuple[int, ...]) -> bytes:
    if len(values) != THRESHOLD_COUNT:
        raise EncodeError(f"a tariff has {THRESHOLD_COUNT} threshold values, got {len(values)}")
    return b"".join(encode_u16(value) for value in values)


@dataclass(frozen=True)
class TransactionDetails:
    """The last prepayment transaction: 8 bytes of unknown meaning, then its time and value."""

    reserved: bytes
    payment_time: datetime
    payment_value: Decimal


TRANSACTION_DETAILS_SIZE = 16
_RESERVED = 8


def decode_transaction_details(payload: bytes) -> TransactionDetails:
    _expect_size(payload, TRANSACTION_DETAILS_SIZE, "transaction details")
    return TransactionDetails(
        reserved=bytes(payload[:_RESERVED]),
        payment_time=decode_emop_time(payload[_RESERVED : _RESERVED + 4]),
        payment_value=decode_signed_money(payload[_RESERVED + 4 :]),
    )


def encode_transaction_details(value: TransactionDetails) -> bytes:
    if len(value.reserved) != _RESERVED:
        raise EncodeError(f"transaction details reserve {_RESERVED} bytes, got {value.reserved!r}")
    return (
        value.reserved
        + encode_emop_time(value.payment_time)
        + encode_signed_money(value.payment_value)
    )


@dataclass(frozen=True)
class ElementRegisters:
    """One element's cumulative registers, in Wh and varh."""

    active_import_wh: int
    active_export_wh: int
    reactive_import_varh: int
    reactive_export_varh: int


_REGISTERS = struct.Struct("<IIII")


def decode_registers(payload: bytes) -> ElementRegisters:
    _expect_size(payload, _REGISTERS.size, "element registers")
    return ElementRegisters(*_REGISTERS.unpack(payload))


def encode_registers(value: ElementRegisters) -> bytes:
    fields = (
        value.active_import_wh,
        value.active_export_wh,
        value.reactive_import_varh,
        value.reactive_export_varh,
    )
    return b"".join(encode_u32(field) for field in fields)
