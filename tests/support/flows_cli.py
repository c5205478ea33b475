"""The `flows` command, run as a user would run it from the checkout."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dagster_project.paths import PROJECT_ROOT

FLOWS = str(Path(sys.executable).with_name("flows"))


def flows(*args: str, env: dict[str, str], check: bool = True) -> subprocess.CompletedProcess:
    """Run the `flows` command as a user would, from the checkout."""
    result = subprocess.run(
        [FLOWS, *args], env=env, capture_output=True, text=True, timeout=300, cwd=PROJECT_ROOT
    )
    if check and result.returncode != 0:
        raise AssertionError(f"flows {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result
