"""The registry CSV for a simulated fleet, in dagster_project.domain.registry's format, and the
infrastructure files beside it (infrastructure_out)."""

from __future__ import annotations

import csv
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

from dagster_project.domain.registry import COLUMNS
from dagster_project.simulator.identity import MeterSpec
from dagster_project.simulator.infrastructure_out import (
    DEFAULT_MOVE_AT,
    infrastructure_for_registry,
    write_infrastructure_files,
)


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


def write_registry_csv(
    path: Path,
    entries: Iterable[RegistryEntry],
    *,
    escos: Sequence[uuid.UUID] = (),
    move_at: datetime = DEFAULT_MOVE_AT,
) -> int:
    """Write the header and one row per meter (written whole, then renamed into place), after
    the infrastructure files of those meters beside it (each written whole, then renamed), so
    that a registry always finds its ESCOs and service heads. `escos` and `move_at`: see
    infrastructure_out.infrastructure_for_registry."""
    rows = [registry_row(entry) for entry in entries]
    infrastructure = infrastructure_for_registry(rows, escos=escos, move_at=move_at)
    write_infrastructure_files(path.parent, infrastructure)
    partial = path.with_name(path.name + ".partial")
    with partial.open("w", newline="", encoding="utf-8") as out:
        writer = csv.DictWriter(out, fieldnames=list(COLUMNS), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    partial.replace(path)
    return len(rows)
