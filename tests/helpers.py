"""Shared test helpers: registry CSV rows built from a valid example, and the `flows` command."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
import uuid
from pathlib import Path

from dagster_project.domain.registry import COLUMNS
from dagster_project.paths import PROJECT_ROOT

ESCO = "2f7a3c64-5a0b-4e8e-9d7c-1b9a2e4f6c01"


def registry_row(number: int, **overrides: str) -> dict[str, str]:
    """A valid registry row, unique per number, with some fields overridden."""
    row = {
        "id": str(uuid.UUID(int=number + 1)),
        "serial": f"EML{2200000000 + number:010d}",
        "name": f"Test house {number}",
        "ip_address": f"127.0.5.{number + 1}",
        "hardware": "C1.w",
        "mode": "active",
        "esco": ESCO,
        "single_meter_app": "false",
        "daylight_savings_correction_enabled": "true",
        "prepay_enabled": "true",
        "port": "",
        "direction_reversed": "",
    }
    row.update(overrides)
    return row


def registry_csv(rows: list[dict[str, str]], columns: tuple[str, ...] = COLUMNS) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(
        out, fieldnames=list(columns), extrasaction="ignore", lineterminator="\n"
    )
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


FLOWS = str(Path(sys.executable).with_name("flows"))


def flows(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run the `flows` command as a user would, from the checkout."""
    result = subprocess.run(
        [FLOWS, *args], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"flows {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
