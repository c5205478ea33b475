"""Shared pieces of the simulator model tests: a model on a fixed history, request frames."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal

from dagster_project.emop.frame import Frame, decode_frame
from dagster_project.simulator.clock import DAY_SECONDS, STEP_SECONDS
from dagster_project.simulator.config import FleetConfig
from dagster_project.simulator.handler import respond
from dagster_project.simulator.identity import MeterSpec, build_specs
from dagster_project.simulator.model import MeterModel

SEED = 7
H0 = int(datetime(2024, 7, 1, tzinfo=UTC).timestamp())  # history start, a Monday in BST
ORIGIN_DAY = H0 + 2 * DAY_SECONDS
CLIENT = 0x0021AE42


def spec_for(index: int, seed: int = SEED, **changes: object) -> MeterSpec:
    spec = build_specs(FleetConfig(meters=index + 1, seed=seed), range(index, index + 1))[0]
    return dataclasses.replace(spec, **changes) if changes else spec


def make_model(index: int = 0, seed: int = SEED, **changes: object) -> MeterModel:
    return MeterModel(spec_for(index, seed, **changes), seed, H0, ORIGIN_DAY)


def at_step(k: int, seconds: float = 0) -> float:
    """The model time k half-hours after the history start (plus some seconds)."""
    return H0 + k * STEP_SECONDS + seconds


def gbp(value: Decimal) -> Decimal:
    return value.quantize(Decimal("0.00001"), rounding=ROUND_HALF_UP)


def request(data: bytes, sequence: int = 5) -> bytes:
    return Frame(destination=0, source=CLIENT, sequence=sequence, data=data).encode()


def exchange(model: MeterModel, data: bytes, t: float, base: float | None = None) -> Frame:
    raw = respond(model, request(data), t, t if base is None else base)
    return decode_frame(raw)
