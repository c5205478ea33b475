"""The whole object catalogue read from simulated meters over TCP, as production tools read it."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.client import ClientSettings, EmopClient
from dagster_project.emop.data import decode_default
from dagster_project.emop.errors import NakError
from dagster_project.emop.frame import decode_frame
from dagster_project.emop.state import MeterEndpoint
from dagster_project.simulator import FleetConfig, GroundTruth, SimMeter, SimulatedFleet
from tests.support.spec_frames import ALL_SPEC_FRAMES, DEFAULT_EXAMPLES, HEAD_END, wire
from tests.support.wire import exchange

SETTINGS = ClientSettings(
    timeout_seconds=5.0, attempts=1, min_gap_seconds=0.0, reuse_connections=True
)
CONFIG = FleetConfig(meters=12, seed=21, freeze_model=True, port=0)
EXAMPLE_ADDRESS = 0x000018B0

# §6.1 and §6.2 of the protocol notes: the reads production tools make for each tariff set.
ACTIVE_TARIFF_READS = (
    0xFFFF22, 0xFFFF20, 0xFFFF1E, 0xFFF939, 0xFFFF2E, 0xFFFF2C,
    0xFFFF2B, 0xFFFF4D, 0xFFFF4B, 0xFFC805, 0xFFC806, 0xFFC807,
)  # fmt: skip
FUTURE_TARIFF_READS = (
    0xFFFF23, 0xFFFF24, 0xFFFF21, 0xFFFF1F, 0xFFF839, 0xFFF601, 0xFFC808, 0xFFC809, 0xFFC80A,
)  # fmt: skip


def serve(body: Callable[[SimulatedFleet], Awaitable[None]]) -> None:
    async def main() -> None:
        async with SimulatedFleet(CONFIG) as fleet:
            await asyncio.wait_for(body(fleet), 30)

    asyncio.run(main())


def endpoint(meter: SimMeter) -> MeterEndpoint:
    return MeterEndpoint(host=meter.host, port=meter.port, serial=meter.serial)


def pick(fleet: SimulatedFleet, test: Callable[[SimMeter], bool]) -> SimMeter:
    found = [meter for meter in fleet.meters if test(meter)]
    assert found, "no meter of the fleet fits"
    return found[0]


# ---------------------------------------------------------------- what a plausible value is

Check = Callable[[Any, GroundTruth], bool]


def between(low: object, high: object) -> Check:
    return lambda value, truth: low <= value <= high  # type: ignore[operator]


def one_of(*allowed: object) -> Check:
    return lambda value, truth: value in allowed


MAX_RATE = Decimal("1.00")  # meters refuse rates and standing charges above £1
MAINS = between(Decimal("216.0"), Decimal("253.0"))  # 230 V +10 % / -6 %
BY_NAME: dict[str, Check] = {
    "serial": lambda value, truth: value == truth.serial and re.fullmatch(r"EML\d{10}", value),
    "hardware_version": lambda value, truth: value == truth.hardware,
    "firmware_version": lambda value, truth: value == truth.firmware,
    "time": lambda value, truth: abs(value - datetime.now(UTC)) < timedelta(hours=1),
    "daylight_savings_correction_flag": lambda value, truth: value is truth.dst_enabled,
    "csq_net_op": lambda value, truth: (
        (value.csq, value.operator) == (truth.csq, truth.csq_operator)
    ),
    "instantaneous_voltage": lambda value, truth: value == truth.voltage,
    "average_voltage": MAINS,
    "instantaneous_current": between(0, 100),
    "average_current": between(0, 100),
    "instantaneous_active_power": between(0, 24_000),
    "element_a_instantaneous_active_power_import": between(0, 24_000),
    "element_b_instantaneous_active_power_import": between(0, 24_000),
    "instantaneous_reactive_power": between(0, 24_000),
    "instantaneous_power_factor": between(Decimal("0.5"), Decimal("1.00")),
    "instantaneous_frequency": between(Decimal("49.5"), Decimal("50.5")),
    "average_frequency": between(Decimal("49.5"), Decimal("50.5")),
    "read_element_a": lambda value, truth: value == truth.element_a,
    "read_element_b": lambda value, truth: value == truth.element_b,
    "total_active_import": lambda value, truth: (
        value == truth.element_a.active_import_wh + truth.element_b.active_import_wh
    ),
    "total_active_export": lambda value, truth: value == truth.element_a.active_export_wh,
    "prepay_balance": lambda value, truth: value == truth.prepay_balance,
    "prepay_enabled_flag": lambda value, truth: value is truth.prepay_enabled,
    "prepay_no_debt_recovery_when_emergency_credit_flag": one_of(False, True),
    "prepay_no_standing_charge_when_power_fail_flag": one_of(False, True),
    "monetary_info_transaction_count": between(1, 0xFFFF),
    "monetary_info_transaction_details": lambda value, truth: (
        datetime(2000, 1, 2, tzinfo=UTC) < value.payment_time < datetime.now(UTC)
        and Decimal(0) < value.payment_value <= Decimal(1000)
    ),
    "tariff_active_standing_charge": lambda value, truth: (
        value == truth.tariffs_active.standing_charge
    ),
    "tariff_active_price": lambda value, truth: value == truth.tariffs_active.unit_rate_element_a,
    "tariff_active_element_b_price": lambda value, truth: (
        value == truth.tariffs_active.unit_rate_element_b
    ),
    "tariff_active_prepayment_emergency_credit": lambda value, truth: (
        value == truth.tariffs_active.prepayment_emergency_credit
    ),
    "tariff_active_prepayment_ecredit_availability": lambda value, truth: (
        value == truth.tariffs_active.prepayment_ecredit_availability
    ),
    "tariff_active_prepayment_debt_recovery_rate": lambda value, truth: (
        value == truth.tariffs_active.prepayment_debt_recovery_rate
    ),
    "tariff_active_block_8_rate_1": lambda value, truth: (
        value == truth.tariffs_active.unit_rate_element_a
    ),
    "tariff_active_element_b_tou_rate_1": lambda value, truth: (
        value == truth.tariffs_active.unit_rate_element_b
    ),
    "tariff_active_threshold_mask": one_of(0),
    "tariff_active_threshold_values": one_of((0,) * 7),
    "tariff_active_block_rate": between(0, 7),
    "tariff_active_tou_rate": between(0, 7),
    "tariff_active_price_index_current": between(0, 63),
    "tariff_active_element_b_tou_rate": between(0, 3),
    "tariff_active_element_b_price_index_current": between(0, 3),
    "tariff_active_tou_flag": one_of(0, 1),
    "tariff_active_gas": one_of(0),
    "tariff_future_standing_charge": lambda value, truth: (
        value == truth.tariffs_future.standing_charge
    ),
    "tariff_future_block_8_rate_1": lambda value, truth: (
        value == truth.tariffs_future.unit_rate_element_a
    ),
    "tariff_future_element_b_tou_rate_1": lambda value, truth: (
        value == truth.tariffs_future.unit_rate_element_b
    ),
    "tariff_future_prepayment_emergency_credit": lambda value, truth: (
        value == truth.tariffs_future.prepayment_emergency_credit
    ),
    "tariff_future_prepayment_ecredit_availability": lambda value, truth: (
        value == truth.tariffs_future.prepayment_ecredit_availability
    ),
    "tariff_future_prepayment_debt_recovery_rate": lambda value, truth: (
        value == truth.tariffs_future.prepayment_debt_recovery_rate
    ),
    "tariff_future_activation_datetime": lambda value, truth: (
        v.datetime_from_emop_seconds(value).replace(tzinfo=None)
        == truth.tariffs_future.activation_datetime
    ),
    "tariff_future_threshold_mask": one_of(0),
    "tariff_future_threshold_values": one_of((0,) * 7),
    "tariff_future_tou_flag": one_of(0, 1),
    "tariff_future_gas": one_of(0),
    "backlight": lambda value, truth: value in o.BACKLIGHT_SETTINGS,
    "load_switch": lambda value, truth: value in o.LOAD_SWITCH_SETTINGS,
    "decimal_places_displayed_in_energy_registers": between(0, 3),
    "tariff_time_switch_element_a_or_single": lambda value, truth: len(value) == 80,
    "tariff_time_switch_element_b": lambda value, truth: len(value) == 80,
}
#: Rates nobody programs: unset (zero) or a price a meter accepts.
BY_PATTERN: dict[str, Check] = {
    r"tariff_(active|future)_(block_\d_rate_\d|element_b_tou_rate_\d)": between(0, MAX_RATE),
    r"unidentified_([0-9a-f]{6})": lambda value, truth: value in o.UNIDENTIFIED_VALUES.values(),
}


def plausibility(obj: o.EmopObject) -> Check:
    if obj.name in BY_NAME:
        return BY_NAME[obj.name]
    for pattern, check in BY_PATTERN.items():
        if re.fullmatch(pattern, obj.name):
            return check
    raise AssertionError(f"no plausible range is known for {obj}")


async def read_whole_catalogue(
    client: EmopClient, meter: SimMeter
) -> tuple[dict[str, Any], list[str]]:
    """Every readable single-phase object's value, and what was wrong with any of them."""
    truth = meter.ground_truth()
    values: dict[str, Any] = {}
    problems: list[str] = []
    for obj in o.SINGLE_PHASE_OBJECTS:
        if not obj.readable:
            continue
        try:
            value = await client.read(endpoint(meter), obj)
        except NakError as nak:
            problems.append(f"{obj}: NAK {nak.code}")
            continue
        values[obj.name] = value
        if value != v.THREE_PHASE and len(obj.encode(value)) != obj.size:
            problems.append(f"{obj}: {obj.size} bytes expected, value {value!r}")
        if not plausibility(obj)(value, truth):
            problems.append(f"{obj}: implausible value {value!r}")
    return values, problems


# ---------------------------------------------------------------- tests


def test_every_catalogue_object_is_served_with_a_plausible_value() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        twin = pick(fleet, lambda meter: meter.hardware == "C1.w")
        single = pick(fleet, lambda meter: meter.hardware != "C1.w")
        async with EmopClient(SETTINGS) as client:
            for meter in (twin, single):
                values, problems = await read_whole_catalogue(client, meter)
                assert not problems, "\n".join(problems)
                assert len(values) == 205
                assert values["tariff_active_block_8_rate_1"] == values["tariff_active_price"]
                assert values["instantaneous_active_power"] == (
                    values["element_a_instantaneous_active_power_import"]
                    + values["element_b_instantaneous_active_power_import"]
                )
            assert values["element_b_instantaneous_active_power_import"] == 0  # single element

    serve(body)


def test_tariff_records_read_as_production_tools_read_them() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = fleet.meter(0)
        truth = meter.ground_truth()
        async with EmopClient(SETTINGS) as client:
            active = [await client.read(endpoint(meter), o.BY_ID[i]) for i in ACTIVE_TARIFF_READS]
            future = [await client.read(endpoint(meter), o.BY_ID[i]) for i in FUTURE_TARIFF_READS]
        standing, mask, thresholds, block_8_rate_1, price, block, tou, price_b, tou_b = active[:9]
        assert (standing, price, price_b) == (
            truth.tariffs_active.standing_charge,
            truth.tariffs_active.unit_rate_element_a,
            truth.tariffs_active.unit_rate_element_b,
        )
        assert block_8_rate_1 == price and (mask, thresholds) == (0, (0,) * 7)
        assert (block, tou, tou_b) == (7, 0, 0)
        assert active[9:] == [
            truth.tariffs_active.prepayment_emergency_credit,
            truth.tariffs_active.prepayment_ecredit_availability,
            truth.tariffs_active.prepayment_debt_recovery_rate,
        ]
        assert future[4:6] == [
            truth.tariffs_future.unit_rate_element_a,
            truth.tariffs_future.unit_rate_element_b,
        ]

    serve(body)


def test_three_phase_and_unknown_ids_are_nak_5_and_read_only_writes_nak_6() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = endpoint(fleet.meter(0))
        unknown = o.EmopObject("unknown", 0x800309, o.decode_raw, o.encode_raw)
        async with EmopClient(SETTINGS) as client:
            for obj in (*o.THREE_PHASE_ONLY, unknown):
                with pytest.raises(NakError) as refused:
                    await client.read(meter, obj)
                assert refused.value.code == 5, obj
            for obj in (o.ACTIVE_PRICE, o.ACTIVE_BLOCK_RATES[3, 3], o.TRANSACTION_COUNT):
                with pytest.raises(NakError) as refused:
                    await client.write(meter, obj, bytes(obj.size or 1))
                assert refused.value.code == 6, obj

    serve(body)


REQUESTS_83 = [example for example in DEFAULT_EXAMPLES if example.id.startswith("8.3-")]


def test_protocol_example_requests_replayed_byte_for_byte_get_well_formed_answers() -> None:
    async def body(fleet: SimulatedFleet) -> None:
        meter = pick(fleet, lambda meter: meter.address == EXAMPLE_ADDRESS)
        truth = meter.ground_truth()
        expected = {
            "serial": truth.serial,
            "hardware_version": truth.hardware,
            "firmware_version": truth.firmware,
            "prepay_balance": truth.prepay_balance,
            "read_element_a": truth.element_a,
            "read_element_b": truth.element_b,
            "instantaneous_voltage": truth.voltage,
            "tariff_active_standing_charge": truth.tariffs_active.standing_charge,
            "tariff_active_price": truth.tariffs_active.unit_rate_element_a,
        }
        for example in REQUESTS_83:
            reply = await exchange(meter.host, meter.port, wire(example.frame))
            # Header: to the request's source, from the meter, the request's sequence, ACK.
            assert (reply.destination, reply.source) == (HEAD_END, EXAMPLE_ADDRESS)
            assert (reply.sequence, reply.ack_nak) == (5, 0)
            assert reply.length == 12 + len(reply.data)  # decode_frame checked the CRC
            record = decode_default(reply.data)
            assert (record.object_id, record.write) == (example.object_id, False)
            value = o.BY_ID[example.object_id].decode(record.payload)
            if example.object_name in expected:
                assert value == expected[example.object_name], example.id
        # The captured exchange with a real meter: the same NAK frame, byte for byte.
        raw_request = wire(ALL_SPEC_FRAMES["8.1-unknown-object-read-request"])
        nak = await exchange(meter.host, meter.port, raw_request)
        assert nak.encode() == wire(ALL_SPEC_FRAMES["8.1-nak-code-5-seq-1"])
        assert decode_frame(nak.encode()).ack_nak == 5

    serve(body)
