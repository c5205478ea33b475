"""The protocol's example requests replayed to a simulated meter holding the examples' values:
its responses must be the example response frames byte for byte."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.simulator.handler import respond
from dagster_project.simulator.model import SC, MeterModel
from tests.support.sim_model import at_step, make_model
from tests.support.spec_frames import ALL_SPEC_FRAMES, HEAD_END, METER, wire

T = at_step(20, 33)
CAPTURED_CLOCK = datetime(2023, 8, 6, 21, 0, 1, tzinfo=UTC).timestamp()


def example_meter() -> MeterModel:
    """The meter of the examples: its serial, model, firmware and address."""
    model = make_model(0, serial="EML2137580761", hardware="C1.w", firmware="3_02_0", address=METER)
    model.sync(T)  # state set below must not be stepped over by the request
    return model


def _set(**values: object) -> Callable[[MeterModel], None]:
    def apply(model: MeterModel) -> None:
        for name, value in values.items():
            setattr(model, name, value)

    return apply


def _standing_charge(model: MeterModel) -> None:
    model.pending = False
    model.active[SC] = 51_082


def _accurate_clock(model: MeterModel) -> None:
    model.drift0 = model.drift_rate = 0.0


def _nothing(model: MeterModel) -> None:
    pass


# (request frame, the example's value given to the meter, expected response frame)
REPLAYS = {
    "balance-3.00": ("8.3-read-prepay_balance", _set(balance=300_000), "8.4-balance-3.00"),
    "balance-negative": (
        "8.3-read-prepay_balance",
        _set(balance=-33_326_400),
        "8.4-balance-minus-333.264",
    ),
    "time": ("8.3-read-time", _accurate_clock, "8.4-time-2023-08-06T21:00:01"),
    "csq": ("8.3-read-csq_net_op", _set(csq=16, operator=1), "8.4-csq-16-operator-1"),
    "serial": ("8.3-read-serial", _nothing, "8.4-serial-EML2137580761"),
    "hardware": ("8.3-read-hardware_version", _nothing, "8.4-hardware-6Cw-is-C1.w"),
    "firmware": ("8.3-read-firmware_version", _nothing, "8.4-firmware-3_02_0"),
    "voltage": ("8.3-read-instantaneous_voltage", _set(voltage=2386), "8.4-voltage-238.6"),
    "standing-charge": (
        "8.3-read-tariff_active_standing_charge",
        _standing_charge,
        "8.4-active-standing-charge-0.51082",
    ),
    "activation": (
        "8.3-read-tariff_future_activation_datetime",
        _set(activation=796_780_800),
        "8.4-future-activation-796780800",
    ),
    "token-write": ("8.5-token-write", _nothing, "8.5-token-write-response-empty"),
    # Captured from a real meter: the firmware read and the NAK for an unknown object.
    "captured-firmware": (
        "8.1-firmware-read-request",
        _nothing,
        "8.1-firmware-read-response-3020",
    ),
    "captured-nak": ("8.1-unknown-object-read-request", _nothing, "8.1-nak-code-5-seq-1"),
}


@pytest.mark.parametrize("name", REPLAYS)
def test_response_is_the_example_frame_byte_for_byte(name: str) -> None:
    request, give_value, response = REPLAYS[name]
    model = example_meter()
    give_value(model)
    base = CAPTURED_CLOCK if name == "time" else T
    assert respond(model, wire(ALL_SPEC_FRAMES[request]), T, base) == wire(
        ALL_SPEC_FRAMES[response]
    )


def test_nak_for_an_unknown_object_carries_the_requests_sequence_5() -> None:
    # The current client's request for the unknown object (sequence 5, control 0x05).
    request = Frame(0, HEAD_END, 5, bytes.fromhex("0180030900")).encode()
    assert request[10] == 0x05
    assert respond(example_meter(), request, T, T) == wire(ALL_SPEC_FRAMES["8.4-nak-code-5-seq-5"])


def test_element_a_example_differs_only_in_the_reactive_registers_the_model_derives() -> None:
    # The model's reactive registers follow its active ones, so the example's reactive 0/0
    # cannot be reproduced; the active registers are the same bytes.
    model = example_meter()
    model.import_a, model.export_a = 486_339, 2_240
    frame = respond(model, wire(ALL_SPEC_FRAMES["8.3-read-read_element_a"]), T, T)
    example = wire(ALL_SPEC_FRAMES["8.4-element-a-registers"])
    assert frame[:24] == example[:24]  # header, echo, active import and export
    reactive = decode_frame(frame).data[13:21]
    assert reactive == (486_339 // 10).to_bytes(4, "little") + (2_240 // 20).to_bytes(4, "little")
