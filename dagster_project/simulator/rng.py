"""Deterministic randomness: counter-based generators keyed by (seed, meter index, purpose, step).

Nothing here reads the wall clock or keeps global state, so a meter's random draws for half-hour
step n are the same whenever, and however often, that step is computed.
"""

from __future__ import annotations

import hashlib
import uuid

_MASK = (1 << 64) - 1
_GOLDEN = 0x9E3779B97F4A7C15
_INV_2_53 = 1.0 / (1 << 53)


def mix64(value: int) -> int:
    """The splitmix64 finaliser: a fast, well-spread bijection on 64-bit integers."""
    value = (value + _GOLDEN) & _MASK
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
    return value ^ (value >> 31)


def key(seed: int, *parts: int) -> int:
    """A 64-bit key for (seed, parts...), e.g. (seed, meter index, purpose)."""
    value = mix64(seed & _MASK)
    for part in parts:
        value = mix64(value ^ (part & _MASK))
    return value


class Draws:
    """A short stream of uniform draws from one key (splitmix64 sequence)."""

    __slots__ = ("_state",)

    def __init__(self, seed_key: int) -> None:
        self._state = seed_key

    def bits(self) -> int:
        self._state = (self._state + _GOLDEN) & _MASK
        value = self._state
        value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
        value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & _MASK
        return value ^ (value >> 31)

    def random(self) -> float:
        """Uniform in [0, 1)."""
        return (self.bits() >> 11) * _INV_2_53

    def uniform(self, low: float, high: float) -> float:
        return low + (high - low) * self.random()

    def randint(self, low: int, high: int) -> int:
        """Uniform integer in [low, high], both included."""
        return low + self.bits() % (high - low + 1)

    def choice(self, options: tuple | list):  # type: ignore[type-arg]
        return options[self.bits() % len(options)]

    def weighted(self, options: tuple | list, weights: tuple | list):  # type: ignore[type-arg]
        total = sum(weights)
        point = self.random() * total
        for option, weight in zip(options, weights, strict=True):
            point -= weight
            if point < 0:
                return option
        return options[-1]


def stable_uuid(seed: int, *parts: object) -> uuid.UUID:
    """A version-4-shaped UUID fixed by the seed and the parts."""
    text = ":".join(str(part) for part in (seed, *parts))
    return uuid.UUID(bytes=hashlib.blake2b(text.encode(), digest_size=16).digest(), version=4)
