"""One request frame in, one response frame out: header rules, NAK codes, reads and writes."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from dagster_project.emop import objects as o
from dagster_project.emop import values as v
from dagster_project.emop.crc import crc16_ccitt_false
from dagster_project.emop.data import DefaultRecord, decode_default
from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.simulator.handler import respond
from dagster_project.simulator.model import READERS
from tests.support.sim_model import CLIENT, at_step, exchange, make_model, request

T = at_step(20, 33)


def read(model, obj: o.EmopObject) -> Frame:  # type: ignore[no-untyped-def]
    return exchange(model, DefaultRecord(obj.object_id).encode(), T)


def test_response_header_answers_the_request_source_with_the_sequence() -> None:
    model = make_model(0)
    raw = Frame(destination=0, source=0xC06F0093, sequence=3, data=bytes.fromhex("0160010000"))
    reply = decode_frame(respond(model, raw.encode(), T, T))
    assert reply.destination == 0xC06F0093
    assert reply.source == model.spec.address
    assert reply.sequence == 3 and reply.ack_nak == 0


def test_every_catalogue_read_decodes_to_the_ground_truth() -> None:
    model = make_model(0)
    truth = model.ground_truth(T)
    decoded = {}
    for object_id in READERS:
        obj = o.BY_ID[object_id]
        reply = read(model, obj)
        assert reply.ack_nak == 0, obj
        record = decode_default(reply.data)
        assert record.object_id == object_id and not record.write
        decoded[obj.name] = obj.decode(record.payload)
    assert decoded["serial"] == truth.serial
    assert decoded["hardware_version"] == truth.hardware
    assert decoded["firmware_version"] == truth.firmware
    assert decoded["prepay_balance"] == truth.prepay_balance
    assert decoded["instantaneous_voltage"] == truth.voltage
    assert decoded["read_element_a"] == truth.element_a
    assert decoded["read_element_b"] == truth.element_b
    assert decoded["csq_net_op"] == v.SignalQuality(truth.csq, truth.csq_operator)
    assert decoded["daylight_savings_correction_flag"] == truth.dst_enabled
    assert decoded["prepay_enabled_flag"] == truth.prepay_enabled
    assert decoded["tariff_active_price"] == truth.tariffs_active.unit_rate_element_a
    assert decoded["tariff_active_element_b_price"] == truth.tariffs_active.unit_rate_element_b
    assert decoded["tariff_future_block_8_rate_1"] == truth.tariffs_future.unit_rate_element_a
    clock = decoded["time"]
    drift = (clock - datetime.fromtimestamp(T, UTC)).total_seconds()
    assert abs(drift - truth.clock_time_diff_seconds) <= 1


def test_unknown_object_is_nak_5_with_the_echo_and_no_payload() -> None:
    model = make_model(0)
    raw = respond(model, request(bytes.fromhex("0180030900"), sequence=5), T, T)
    assert (
        raw.hex() == "7e110021ae42" + f"{model.spec.address:08x}" + "2d0180030900" + raw[-2:].hex()
    )
    reply = decode_frame(raw)
    assert reply.ack_nak == 5 and reply.length == 0x11


def test_writes_to_read_only_objects_are_nak_6_and_change_nothing() -> None:
    model = make_model(0)
    before = model.ground_truth(T)
    write = DefaultRecord(o.PREPAY_BALANCE.object_id, write=True, payload=v.encode_s32(1))
    reply = exchange(model, write.encode(), T)
    assert reply.ack_nak == 6 and reply.data == bytes.fromhex("01ffc80201")
    assert model.ground_truth(T) == before


def test_writes_are_acknowledged_with_an_empty_payload() -> None:
    model = make_model(0)
    flag = not model.prepay_enabled
    write = DefaultRecord(o.PREPAY_ENABLED.object_id, write=True, payload=v.encode_flag(flag))
    reply = exchange(model, write.encode(), T)
    assert reply.ack_nak == 0 and reply.data == write.encode()[:5]
    assert model.ground_truth(T).prepay_enabled is flag
    wrong_size = DefaultRecord(o.PREPAY_ENABLED.object_id, write=True, payload=b"\x01\x00")
    assert exchange(model, wrong_size.encode(), T).ack_nak == 3


def test_bad_crc_is_nak_1_and_short_frames_nak_3() -> None:
    model = make_model(0)
    good = request(bytes.fromhex("01ffc80200"))
    corrupt = good[:-1] + bytes([good[-1] ^ 1])
    reply = decode_frame(respond(model, corrupt, T, T))
    assert reply.ack_nak == 1 and reply.destination == CLIENT
    body = bytes([0x7E, 0x10]) + bytes.fromhex("000000000021ae420501ffc802")
    short = body + crc16_ccitt_false(body[1:]).to_bytes(2, "big")
    reply = decode_frame(respond(model, short, T, T))
    assert reply.ack_nak == 3 and reply.length == 0x11


def test_unknown_record_format_is_nak_2() -> None:
    model = make_model(0)
    assert exchange(model, bytes.fromhex("0900000000"), T).ack_nak == 2


def test_nak_object_list_answers_nak_5_for_those_objects_only() -> None:
    model = make_model(0)
    voltage = request(DefaultRecord(o.VOLTAGE.object_id).encode())
    serial = request(DefaultRecord(o.SERIAL.object_id).encode())
    naks = frozenset({o.VOLTAGE.object_id})
    assert decode_frame(respond(model, voltage, T, T, naks)).ack_nak == 5
    assert decode_frame(respond(model, serial, T, T, naks)).ack_nak == 0


def test_destination_check_is_optional() -> None:
    model = make_model(0)
    raw = Frame(destination=0x12345678, source=CLIENT, sequence=1, data=bytes.fromhex("01ffc80200"))
    assert decode_frame(respond(model, raw.encode(), T, T)).ack_nak == 0
    checked = respond(model, raw.encode(), T, T, check_destination=True)
    assert decode_frame(checked).ack_nak == 7


def test_balance_payload_is_signed() -> None:
    model = make_model(0)
    model.sync(T)
    model.balance = -1_234_567
    reply = read(model, o.PREPAY_BALANCE)
    assert o.PREPAY_BALANCE.decode(reply.data[5:]) == Decimal("-12.34567")
