"""Who each simulated meter is: serial, model, firmware, address, where it listens, its fault,
and its registry row fields, all fixed by (seed, meter index)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass

from dagster_project.simulator.config import FAULT_KINDS, IP_ADDRESSING, FleetConfig, ip_for_index
from dagster_project.simulator.rng import Draws, key, stable_uuid

DEFAULT_ADDRESS = 0x000018B0
#: Purposes, mixed into the random keys so each kind of draw has its own stream.
P_IDENTITY = 1
P_FAULT = 2
P_INIT = 3
P_STEP = 4
P_GARBAGE = 5
P_SERIAL = 6

_SERIAL_STRIDE = 104_729  # prime, so index -> serial is one-to-one below 8e9 meters
_SERIAL_SPAN = 8_000_000_000
HARDWARE_MIX = (("C1.w", 80), ("B1.w", 10), ("EMA1.w", 10))
FIRMWARE_MIX = (("3_02_0", 50), ("3_03_2", 35), ("3_04_1", 15))
#: Meters are named as homes on streets, HOUSES_PER_STREET consecutive meters to a street (the
#: infrastructure files group a street's meters of one ESCO into a site); once every street
#: has a block, the numbering goes on past the last block's houses, so names never repeat.
STREETS = (
    "Alder Close", "Beech Road", "Cedar Way", "Damson Lane", "Elm Grove", "Foxglove Walk",
    "Gorse Rise", "Hawthorn Drive", "Ivy Court", "Juniper Row", "Kingfisher Lane", "Larch Mews",
    "Meadow View", "Nettle Bank", "Orchard Street", "Poplar Avenue", "Quarry Hill",
    "Rowan Crescent", "Sorrel Gardens", "Teasel Place", "Upland Road", "Violet Terrace",
    "Willow Green", "Yew Tree Lane",
)  # fmt: skip
HOUSES_PER_STREET = 12


@dataclass(frozen=True, slots=True)
class MeterSpec:
    """A meter's fixed identity, and the registry fields the simulator lists it with."""

    index: int
    id: uuid.UUID
    serial: str
    name: str
    hardware: str  # model: C1.w, B1.w or EMA1.w
    firmware: str  # display form, e.g. 3_02_0
    address: int
    host: str
    port: int  # as configured; 0 means the OS chooses when the meter starts listening
    fault: str | None
    mode: str
    esco: uuid.UUID
    single_meter_app: bool
    dst_enabled: bool  # initial daylight-savings correction flag
    prepay_enabled: bool  # initial prepay flag
    solar: bool

    @property
    def twin_element(self) -> bool:
        return self.hardware == "C1.w"


def serial_for_index(seed: int, index: int) -> str:
    offset = key(seed, P_SERIAL) % _SERIAL_SPAN
    return f"EML{1_000_000_000 + (offset + index * _SERIAL_STRIDE) % _SERIAL_SPAN:010d}"


def home_name(index: int) -> str:
    """Meter i's home, e.g. "1 Alder Close" (meter 0), "1 Beech Road" (meter 12)."""
    block, house = divmod(index, HOUSES_PER_STREET)
    rounds, street = divmod(block, len(STREETS))
    return f"{rounds * HOUSES_PER_STREET + house + 1} {STREETS[street]}"


def esco_ids(config: FleetConfig) -> tuple[uuid.UUID, ...]:
    return tuple(stable_uuid(config.seed, "esco", n) for n in range(config.esco_count))


def assign_faults(config: FleetConfig) -> dict[int, str]:
    """Exactly round(faulty_fraction x meters) faulty meters, picked and dealt kinds from the seed,
    then the explicit per-index `faults` on top."""
    count = round(config.faulty_fraction * config.meters)
    out: dict[int, str] = {}
    if count:
        seed = config.seed
        chosen = sorted(range(config.meters), key=lambda i: key(seed, i, P_FAULT))[:count]
        kinds = _deal(count, config.fault_mix or dict.fromkeys(FAULT_KINDS, 1.0))
        out = dict(zip(chosen, kinds, strict=True))
    for index, kind in config.faults.items():
        if kind is None:
            out.pop(index, None)
        else:
            out[index] = kind
    return out


def _deal(count: int, mix: Mapping[str, float]) -> list[str]:
    """`count` kinds in proportion to the weights (largest remainder), interleaved."""
    weights = {kind: float(w) for kind, w in mix.items() if w > 0}
    total = sum(weights.values())
    exact = {kind: count * w / total for kind, w in weights.items()}
    counts = {kind: int(value) for kind, value in exact.items()}
    spare = count - sum(counts.values())
    for kind in sorted(exact, key=lambda k: (counts[k] - exact[k], FAULT_KINDS.index(k)))[:spare]:
        counts[kind] += 1
    dealt: list[str] = []
    while len(dealt) < count:
        for kind in FAULT_KINDS:
            if counts.get(kind, 0) > 0:
                dealt.append(kind)
                counts[kind] -= 1
    return dealt


def build_spec(
    config: FleetConfig, index: int, faults: dict[int, str], escos: tuple[uuid.UUID, ...]
) -> MeterSpec:
    seed = config.seed
    draws = Draws(key(seed, index, P_IDENTITY))
    hardware = draws.weighted(*zip(*HARDWARE_MIX, strict=True))
    firmware = draws.weighted(*zip(*FIRMWARE_MIX, strict=True))
    address = DEFAULT_ADDRESS if draws.random() < 0.85 else draws.randint(0x1000, 0xFFFFFF)
    dst_enabled = draws.random() < 0.7
    prepay_enabled = draws.random() < 0.92
    solar = draws.random() < 0.15
    single_meter_app = draws.random() < 0.1
    esco = escos[draws.bits() % len(escos)]
    passive = draws.random() < config.passive_fraction
    if config.addressing == IP_ADDRESSING:
        host, port = ip_for_index(index), config.port
    else:
        host, port = config.host, (config.base_port + index if config.base_port else 0)
    return MeterSpec(
        index=index,
        id=stable_uuid(seed, "meter", index),
        serial=serial_for_index(seed, index),
        name=home_name(index),
        hardware=hardware,
        firmware=firmware,
        address=address,
        host=host,
        port=port,
        fault=faults.get(index),
        mode="passive" if passive else "active",
        esco=esco,
        single_meter_app=single_meter_app,
        dst_enabled=dst_enabled,
        prepay_enabled=prepay_enabled,
        solar=solar,
    )


def build_specs(config: FleetConfig, indices: range | None = None) -> list[MeterSpec]:
    faults = assign_faults(config)
    escos = esco_ids(config)
    if indices is None:
        indices = range(config.meters)
    return [build_spec(config, i, faults, escos) for i in indices]
