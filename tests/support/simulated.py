"""What tests against a simulated fleet share: EMOP settings that suit it, and its registry."""

from __future__ import annotations

import csv
from pathlib import Path

from dagster_project.defs.resources import EmopSettings
from dagster_project.simulator import SimulatedFleet

# Simulated meters need no 2-second gap, and a faulty one should not hold a test up.
QUICK_EMOP = EmopSettings(
    timeout_seconds=1.0,
    attempts=2,
    backoff_base_seconds=0.05,
    backoff_max_seconds=0.1,
    min_gap_seconds=0.0,
)


def write_fleet_registry(fleet: SimulatedFleet, path: Path, **overrides: str) -> Path:
    """The fleet's registry CSV at `path`, with the same columns overridden on every row."""
    fleet.write_registry_csv(path)
    with path.open(newline="") as f:
        rows = list(csv.DictReader(f))
    for row in rows:
        row.update(overrides)
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        writer.writerows(rows)
    return path
