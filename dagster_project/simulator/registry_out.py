"""The registry CSV for a simulated fleet, in dagster_project.domain.registry's format."""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from dagster_project.domain.registry import COLUMNS
from dagster_project.simulator.identity import MeterSpec


@dataclass(frozen=True)
class RegistryEntry:
    spec: MeterSpec
    port: int
    dst_enabled: bool
    prepay_enabled: bool


def _bool(value: bool) -> str:
    return "true" if value else "false"


def registry_row(entry: RegistryEntry) -> dict[str, str]:
    spec = entry.spec
    return {
        "id": str(spec.id),
        "serial": spec.serial,
        "name": spec.name,
        "ip_address": spec.host,
        "hardware": spec.hardware,
        "mode": spec.mode,
        "esco": str(spec.esco),
        "single_meter_app": _bool(spec.single_meter_app),
        "daylight_savings_correction_enabled": _bool(entry.dst_enabled),
        "prepay_enabled": _bool(entry.prepay_enabled),
        "port": str(entry.port),
    }


def write_registry_csv(path: Path, entries: Iterable[RegistryEntry]) -> int:
    """Write the header and one row per meter (written whole, then renamed into place)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_name(path.name + ".partial")
    count = 0
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        for entry in entries:
            writer.writerow(registry_row(entry))
            count += 1
    partial.replace(path)
    return count
