"""Finding the real frame after noise that holds 0x7E bytes: false starts are dropped and the
scan goes on from the next 0x7E, without taking bytes past the frame, within the garbage cap."""

from __future__ import annotations

import asyncio

import pytest

from dagster_project.emop.client import MAX_GARBAGE_BYTES, read_frame_bytes
from dagster_project.emop.crc import crc16_ccitt_false
from dagster_project.emop.errors import CrcError, FrameError, MeterConnectionError
from dagster_project.emop.frame import FrameScanner, decode_frame

# Captured exchanges (a firmware answer, a NAK 5) and constructed answers to this client.
FIRMWARE_CAPTURED = bytes.fromhex("7e15c06f0093000018b0010100020100333032309dbd")
NAK_CAPTURED = bytes.fromhex("7e11c06f0093000018b0290180030900f8a2")
SERIAL_ANSWER = bytes.fromhex(
    "7e210021ae42000018b0050160010000454d4c323133373538303736312020205747"
)
BALANCE_ANSWER = bytes.fromhex("7e150021ae42000018b00501ffc80200e093040021e1")
REAL_FRAMES = [FIRMWARE_CAPTURED, NAK_CAPTURED, SERIAL_ANSWER, BALANCE_ANSWER]
THIS_CLIENT = 0x0021AE42


def plausible_false_frame() -> bytes:
    """Noise that looks like a whole frame of the minimum length, addressed elsewhere, with a
    CRC that does not hold."""
    body = bytes([0x11]) + bytes.fromhex("123456789abcdef0050160010000")
    crc = crc16_ccitt_false(body) ^ 0x0101
    return b"\x7e" + body + crc.to_bytes(2, "big")


NOISES = {
    # A modem line with a lone 0x7E whose "length" is impossible.
    "short length": b"AT+OK\r\n\x7e\x03\x00",
    # A 0x7E whose "length" promises far more bytes than the real frame has.
    "long length": b"\x00\x13\x7e\xff\x01\x02",
    # Several false starts in a row, the last right before the real frame.
    "many starts": b"\x7e\x7e\x05\x7e\x10\x7e",
    # A complete frame-shaped piece of noise with a bad CRC, not addressed to this client.
    "false frame": plausible_false_frame(),
    # The same, cut short by the real frame (its length runs past the real frame's start).
    "cut false frame": plausible_false_frame()[:9],
}


def read_chunks(chunks: list[bytes], scanner: FrameScanner | None = None) -> tuple[bytes, bytes]:
    """The frame read from `chunks` (then end of stream) and the bytes left unread after it."""

    async def run() -> tuple[bytes, bytes]:
        reader = asyncio.StreamReader()
        for chunk in chunks:
            reader.feed_data(chunk)
        reader.feed_eof()
        frame = await read_frame_bytes(reader, scanner)
        return frame, await reader.read()

    return asyncio.run(run())


def test_the_noise_really_holds_false_starts() -> None:
    for noise in NOISES.values():
        assert 0x7E in noise
        start = noise.index(0x7E)
        with pytest.raises(FrameError):
            decode_frame(noise[start:])


@pytest.mark.parametrize("frame", REAL_FRAMES, ids=lambda f: f[10:13].hex())
@pytest.mark.parametrize("noise", list(NOISES), ids=str)
@pytest.mark.parametrize("split", ["whole", "bytewise"])
def test_real_frame_is_found_after_noise_holding_0x7e(frame: bytes, noise: str, split: str):
    stream = NOISES[noise] + frame
    # A second frame right behind must stay unread: the reader never takes past the frame.
    stream += BALANCE_ANSWER
    chunks = [stream] if split == "whole" else [stream[i : i + 1] for i in range(len(stream))]
    found, left = read_chunks(chunks, FrameScanner(answering=THIS_CLIENT))
    assert found == frame
    assert left == BALANCE_ANSWER


def test_a_corrupted_answer_to_this_client_fails_at_once_not_as_noise() -> None:
    corrupted = BALANCE_ANSWER[:-1] + bytes([BALANCE_ANSWER[-1] ^ 0xFF])
    # Addressed to this client: the meter's answer, damaged. A valid frame behind it is not
    # taken for the answer.
    with pytest.raises(CrcError, match="CRC mismatch") as raised:
        read_chunks([corrupted + SERIAL_ANSWER], FrameScanner(answering=THIS_CLIENT))
    assert raised.value.received == corrupted
    # Not knowing whom answers are for, the same bytes are a false start like any other.
    assert read_chunks([corrupted + SERIAL_ANSWER])[0] == SERIAL_ANSWER


def test_false_starts_and_nothing_else_give_the_last_rejection_with_every_byte() -> None:
    noise = b"\x01\x7e\x05" + bytes(20)
    with pytest.raises(FrameError, match="frame length 5 is under the minimum 17") as raised:
        read_chunks([noise])
    assert raised.value.received == noise


def test_a_false_frame_cut_by_the_end_of_the_stream_is_a_closed_connection() -> None:
    noise = b"\x7e\x40" + bytes(10)  # a start whose frame never completes
    with pytest.raises(MeterConnectionError, match="mid-frame after 12 bytes") as raised:
        read_chunks([noise])
    assert raised.value.received == noise


def test_false_starts_count_toward_the_garbage_cap() -> None:
    noise = b"\x7e\x01" * (MAX_GARBAGE_BYTES // 2 + 5)
    with pytest.raises(FrameError, match=f"no valid frame start in the first {MAX_GARBAGE_BYTES}"):
        read_chunks([noise + BALANCE_ANSWER])
    # Within the cap, the frame behind them is found.
    noise = b"\x7e\x01" * (MAX_GARBAGE_BYTES // 2 - 1)
    assert read_chunks([noise + BALANCE_ANSWER])[0] == BALANCE_ANSWER


def test_the_scanner_keeps_what_arrived_for_a_caller_cut_short() -> None:
    scanner = FrameScanner(answering=THIS_CLIENT)
    assert scanner.feed(b"\x7e\x02" + BALANCE_ANSWER[:5]) is None
    assert bytes(scanner.received) == b"\x7e\x02" + BALANCE_ANSWER[:5]
    assert "frame length 2 is under the minimum 17" in scanner.note()
    # Never more than the rest of the frame begun, so nothing behind it is taken.
    assert scanner.wanted() == len(BALANCE_ANSWER) - 5
    assert scanner.feed(BALANCE_ANSWER[5:]) == BALANCE_ANSWER
