"""CRC-16/CCITT-FALSE, the checksum of every EMOP frame (poly 0x1021, init 0xFFFF, MSB first).

binascii.crc_hqx is exactly this CRC (CCITT polynomial, not reflected, no final XOR) given the
0xFFFF start, computed in C: it runs on every frame sent and received.
"""

from __future__ import annotations

import binascii


def crc16_ccitt_false(data: bytes, crc: int = 0xFFFF) -> int:
    return binascii.crc_hqx(data, crc)
