"""Every example frame of the EMOP spec, as the spec prints it, with what the spec says the
default-format ones hold; shared by the codec, simulator and fuzz tests."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from dagster_project.emop import values as v

# Addresses named in spec §2.1 and §8.
HEAD_END = 0x0021AE42  # the current Python client's fixed source address
METER = 0x000018B0  # the captured meter's own address
JAVA_HEAD_END = 0xC06F0093  # the Java client's source address in the CAP capture
FIRST_PYTHON_HEAD_END = 0x80D1C248
VENDOR_DESTINATION = 0x01FFFFFF  # addresses of the example frames quoted from the vendor spec
VENDOR_SOURCE = 0xC0123456

TOKEN = "71466394621589161020"


def wire(text: str) -> bytes:
    """A frame as the spec prints it: hex, optionally spaced."""
    return bytes.fromhex(text.replace(" ", ""))


# ---------------------------------------------------------------- default format (§8)

#: The value of an example whose payload is empty (None could be a decoded value).
NO_VALUE: Any = object()


@dataclass(frozen=True)
class DefaultExample:
    """One default-format frame from the spec and what the spec says it holds."""

    id: str
    frame: str
    destination: int
    source: int
    sequence: int
    object_id: int
    object_name: str | None  # the spec's (EFP) name; None for an id unknown to the catalogue
    write: bool = False
    ack_nak: int = 0
    value: Any = NO_VALUE  # the decoded payload; NO_VALUE for an empty payload
    lossless: bool = True  # False when the spec's payload is not the encoder's canonical form


# fmt: off
DEFAULT_EXAMPLES = [
    # §8.1 real captured exchanges
    DefaultExample(
        "8.1-firmware-read-request",
        "7E 11 00000000 C06F0093 01 01 000201 00 AE4A",
        0x00000000, JAVA_HEAD_END, 1, 0x000201, "firmware_version",
    ),
    DefaultExample(
        "8.1-firmware-read-response-3020",
        "7E 15 C06F0093 000018B0 01 01 000201 00 33303230 9DBD",
        JAVA_HEAD_END, METER, 1, 0x000201, "firmware_version", value="3_02_0",
    ),
    DefaultExample(
        "8.1-hardware-read-request",
        "7E 11 000018B0 C06F0093 01 01 608000 00 CB86",
        METER, JAVA_HEAD_END, 1, 0x608000, "hardware_version",
    ),
    DefaultExample(
        "8.1-hardware-read-response-1",
        "7E 15 C06F0093 000018B0 01 01 608000 00 31000000 E3D6",
        JAVA_HEAD_END, METER, 1, 0x608000, "hardware_version",
        value="SINGLE_PHASE_UNKNOWN",  # "1": "anything else -> SINGLE_PHASE_UNKNOWN" (§5.1)
        lossless=False,
    ),
    DefaultExample(
        "8.1-unknown-object-read-request",
        "7E 11 000018B0 C06F0093 01 01 800309 00 97FE",
        METER, JAVA_HEAD_END, 1, 0x800309, None,
    ),
    DefaultExample(
        "8.1-nak-code-5-seq-1",
        "7E 11 C06F0093 000018B0 29 01 800309 00 F8A2",
        JAVA_HEAD_END, METER, 1, 0x800309, None, ack_nak=5,
    ),
    # §8.2 other frames found in the sources
    DefaultExample(
        "8.2-serial-read-first-python-client",
        "7E110000000080D1C2480001600100001C32",
        0x00000000, FIRST_PYTHON_HEAD_END, 0, 0x600100, "serial",
    ),
    DefaultExample(
        "8.2-serial-read-current-client",
        "7E11000000000021AE42050160010000C02F",
        0x00000000, HEAD_END, 5, 0x600100, "serial",
    ),
    DefaultExample(
        "8.2-token-write-vendor-addresses",
        "7E2501FFFFFFC01234560101FFC803013731343636333934363231353839313631303230 0830",
        VENDOR_DESTINATION, VENDOR_SOURCE, 1, 0xFFC803, "prepay_token_send",
        write=True, value=TOKEN,
    ),
    DefaultExample(
        "8.2-dst-flag-write-1",
        "7E1201FFFFFFC01234560501FFFF0B010169C6",
        VENDOR_DESTINATION, VENDOR_SOURCE, 5, 0xFFFF0B, "daylight_savings_correction_flag",
        write=True, value=True,
    ),
    # §8.3 requests as sent by the current client
    *(
        DefaultExample(f"8.3-read-{name}", frame, 0x00000000, HEAD_END, 5, object_id, name)
        for name, object_id, frame in [
            ("prepay_balance", 0xFFC802, "7e11000000000021ae420501ffc802000c5a"),
            ("time", 0x800800, "7e11000000000021ae42050180080000da54"),
            ("csq_net_op", 0xFFFD1D, "7e11000000000021ae420501fffd1d003142"),
            ("serial", 0x600100, "7e11000000000021ae42050160010000c02f"),
            ("hardware_version", 0x608000, "7e11000000000021ae42050160800000cc45"),
            ("firmware_version", 0x000201, "7e11000000000021ae42050100020100f39c"),
            ("instantaneous_voltage", 0x0C0700, "7e11000000000021ae4205010c070000646f"),
            ("read_element_a", 0xFFFFFC, "7e11000000000021ae420501fffffc007ca1"),
            ("read_element_b", 0xFFFFF8, "7e11000000000021ae420501fffff800b065"),
            ("prepay_enabled_flag", 0xFFFF0D, "7e11000000000021ae420501ffff0d005c51"),
            ("tariff_active_standing_charge", 0xFFFF22, "7e11000000000021ae420501ffff22004a89"),
            ("tariff_active_price", 0xFFFF2E, "7e11000000000021ae420501ffff2e000fe4"),
            (
                "tariff_future_activation_datetime",
                0xFFFF24,
                "7e11000000000021ae420501ffff2400e02f",
            ),
        ]
    ),
    # §8.4 responses
    DefaultExample(
        "8.4-balance-3.00",
        "7e150021ae42000018b00501ffc80200e093040021e1",
        HEAD_END, METER, 5, 0xFFC802, "prepay_balance", value=Decimal("3.00000"),
    ),
    DefaultExample(
        "8.4-balance-minus-333.264",
        "7e150021ae42000018b00501ffc80200c07a03febf49",
        HEAD_END, METER, 5, 0xFFC802, "prepay_balance", value=Decimal("-333.26400"),
    ),
    DefaultExample(
        "8.4-time-2023-08-06T21:00:01",
        "7e180021ae42000018b0050180080000170806150001008d2d",
        HEAD_END, METER, 5, 0x800800, "time",
        value=datetime(2023, 8, 6, 21, 0, 1, tzinfo=UTC),
    ),
    DefaultExample(
        "8.4-csq-16-operator-1",
        "7e120021ae42000018b00501fffd1d00301eca",
        HEAD_END, METER, 5, 0xFFFD1D, "csq_net_op", value=v.SignalQuality(csq=16, operator=1),
    ),
    DefaultExample(
        "8.4-serial-EML2137580761",
        "7e210021ae42000018b0050160010000454d4c323133373538303736312020205747",
        HEAD_END, METER, 5, 0x600100, "serial", value="EML2137580761",
    ),
    DefaultExample(
        "8.4-hardware-6Cw-is-C1.w",
        "7e150021ae42000018b0050160800000364377206e71",
        HEAD_END, METER, 5, 0x608000, "hardware_version", value="C1.w",
    ),
    DefaultExample(
        "8.4-firmware-3_02_0",
        "7e150021ae42000018b005010002010033303230b066",
        HEAD_END, METER, 5, 0x000201, "firmware_version", value="3_02_0",
    ),
    DefaultExample(
        "8.4-voltage-238.6",
        "7e130021ae42000018b005010c0700005209d1f9",
        HEAD_END, METER, 5, 0x0C0700, "instantaneous_voltage", value=Decimal("238.6"),
    ),
    DefaultExample(
        "8.4-element-a-registers",
        "7e210021ae42000018b00501fffffc00c36b0700c008000000000000000000009251",
        HEAD_END, METER, 5, 0xFFFFFC, "read_element_a",
        value=v.ElementRegisters(
            active_import_wh=486339,
            active_export_wh=2240,
            reactive_import_varh=0,
            reactive_export_varh=0,
        ),
    ),
    DefaultExample(
        "8.4-active-standing-charge-0.51082",
        "7e150021ae42000018b00501ffff22008ac700002b93",
        HEAD_END, METER, 5, 0xFFFF22, "tariff_active_standing_charge", value=Decimal("0.51082"),
    ),
    DefaultExample(
        "8.4-future-activation-796780800",
        "7e150021ae42000018b00501ffff240000e97d2f25ae",
        HEAD_END, METER, 5, 0xFFFF24, "tariff_future_activation_datetime", value=796780800,
    ),
    DefaultExample(
        "8.4-nak-code-5-seq-5",
        "7e110021ae42000018b02d0180030900c8bf",
        HEAD_END, METER, 5, 0x800309, None, ack_nak=5,
    ),
    # §8.5 writes
    DefaultExample(
        "8.5-write-future-standing-charge-0.51082",
        "7e15000000000021ae420501ffff23018ac7000012e6",
        0x00000000, HEAD_END, 5, 0xFFFF23, "tariff_future_standing_charge",
        write=True, value=Decimal("0.51082"),
    ),
    DefaultExample(
        "8.5-write-future-activation-2025-04-01",
        "7e15000000000021ae420501ffff240100e97d2f597b",
        0x00000000, HEAD_END, 5, 0xFFFF24, "tariff_future_activation_datetime",
        write=True, value=796780800,
    ),
    DefaultExample(
        "8.5-write-future-threshold-mask-0",
        "7e12000000000021ae420501ffff210100e2a2",
        0x00000000, HEAD_END, 5, 0xFFFF21, "tariff_future_threshold_mask", write=True, value=0,
    ),
    DefaultExample(
        "8.5-write-future-threshold-values-zero",
        "7e1f000000000021ae420501ffff1f010000000000000000000000000000cadf",
        0x00000000, HEAD_END, 5, 0xFFFF1F, "tariff_future_threshold_values",
        write=True, value=(0,) * 7,
    ),
    DefaultExample(
        "8.5-set-clock-2024-03-05T13:14:15Z",
        "7e18000000000021ae420501800800011803050d0e0f02eb27",
        0x00000000, HEAD_END, 5, 0x800800, "time",
        write=True, value=datetime(2024, 3, 5, 13, 14, 15, tzinfo=UTC),
    ),
    DefaultExample(
        "8.5-token-write",
        "7e25000000000021ae420501ffc803013731343636333934363231353839313631303230cdeb",
        0x00000000, HEAD_END, 5, 0xFFC803, "prepay_token_send", write=True, value=TOKEN,
    ),
    DefaultExample(
        "8.5-token-write-response-empty",
        "7e110021ae42000018b00501ffc803014f82",
        HEAD_END, METER, 5, 0xFFC803, "prepay_token_send", write=True,
    ),
]
# fmt: on

# §9.1, §9.5, §9.7, §10.1, §10.2: the profile-log and event-log frames.
PROFILE_LOG_REQUESTS = {
    "9.1-profile-log-1-request": "7e11000000000021ae4205032dbb08006321",
    "9.1-profile-log-2-request": "7e11000000000021ae4205042dbb080004f5",
}
PROFILE_LOG_1_FRAME = (
    "7e610021ae42000018b005030008bb2d60d0b02d0100f00600004507000068d7b02d0080f006000045070000"
    "70deb02d0080f00600004507000078e5b02d0080f00600004507000080ecb02d0080f0060000450700003400"
    "0000000000000000866c"
)
PROFILE_LOG_2_FRAME = (
    "7e610021ae42000018b005042e57ea8080ea572e0080c008000000000000000000005209000088f1572e0080"
    "c108000000000000000000005209000090f8572e0080c20800000000000000000000520900000000000000000000"
    "0000000000003073"
)
EVENT_LOG_REQUESTS = {
    "10.1-event-log-page-0-request": "7e11000000000021ae420505ffff4900145f",
    "10.1-event-log-page-9-request": "7e11000000000021ae420505ffff49098576",
}
EVENT_LOG_FRAME = (
    "7e4d0021ae42000018b00505ffff49002092c42e30078005c42e260400b4c22e26038062c12e26020011c02e"
    "260180bfbe2e2600006ebd2e2600801cbc2e260000cbba2e26008079b92e2600af2e"
)

#: Every frame in the spec, by section and meaning.
ALL_SPEC_FRAMES: dict[str, str] = {
    **{example.id: example.frame for example in DEFAULT_EXAMPLES},
    **PROFILE_LOG_REQUESTS,
    "9.5-profile-log-1-response": PROFILE_LOG_1_FRAME,
    "9.7-profile-log-2-response": PROFILE_LOG_2_FRAME,
    **EVENT_LOG_REQUESTS,
    "10.2-event-log-response": EVENT_LOG_FRAME,
}
