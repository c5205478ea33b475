"""The Dagster home `flows` keeps: telemetry off and no new-user dialog, added to an instance
file of the user's own without replacing what it sets."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from dagster_project.cli.run import ensure_dagster_home
from dagster_project.settings import Settings


def test_a_new_home_has_telemetry_and_the_new_user_dialog_off(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = ensure_dagster_home(Settings(state_dir=tmp_path))
    assert home == tmp_path / "dagster"
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config == {"telemetry": {"enabled": False}, "nux": {"enabled": False}}


def test_an_existing_instance_file_keeps_its_own_settings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "dagster.yaml").write_text(
        "telemetry:\n  enabled: true\nrun_queue:\n  max_concurrent_runs: 3\n"
    )
    monkeypatch.setenv("DAGSTER_HOME", str(home))
    ensure_dagster_home(Settings(state_dir=tmp_path))
    config = yaml.safe_load((home / "dagster.yaml").read_text())
    assert config == {
        "telemetry": {"enabled": True},
        "run_queue": {"max_concurrent_runs": 3},
        "nux": {"enabled": False},
    }
