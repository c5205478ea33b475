"""The settings module: every FLOWS_* variable read once, validated with the variable named, and
the only module of the package that reads the environment."""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from dagster_project.defs.resources import EmopSettings
from dagster_project.emop.client import ClientSettings
from dagster_project.paths import PACKAGE_DIR
from dagster_project.settings import VARIABLES, Settings, SettingsError


def test_unset_and_empty_variables_give_the_defaults() -> None:
    assert Settings.from_environment({}) == Settings.from_environment(
        {variable.name: "" for variable in VARIABLES}
    )
    defaults = Settings.from_environment({})
    assert defaults.sync_buckets == 4 and not defaults.sync_fan_out
    assert defaults.registry_max_removed_share == 0.1
    assert defaults.database_url is None and defaults.registry_csv is None
    assert defaults.emop == ClientSettings()


def test_every_setting_is_read() -> None:
    read = Settings.from_environment(
        {
            "FLOWS_STATE_DIR": "/srv/flows",
            "FLOWS_DATABASE_URL": "postgresql://flows:pw@db/flows",
            "FLOWS_REGISTRY_CSV": "/srv/registry.csv",
            "FLOWS_REGISTRY_MAX_REMOVED_SHARE": "0.25",
            "FLOWS_SYNC_BUCKETS": "16",
            "FLOWS_SYNC_FAN_OUT": "yes",
            "FLOWS_ALERT_WEBHOOK_URL": "https://hooks.example.com/t0k3n",
            "FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO": "20",
            "FLOWS_EMOP_MIN_GAP_SECONDS": "0.2",
            "FLOWS_EMOP_REUSE_CONNECTIONS": "true",
        }
    )
    assert read.state_dir == Path("/srv/flows")
    assert read.database_url == "postgresql://flows:pw@db/flows"
    assert read.registry_csv == Path("/srv/registry.csv")
    assert read.registry_max_removed_share == 0.25
    assert (read.sync_buckets, read.sync_fan_out) == (16, True)
    assert read.alert_webhook_url == "https://hooks.example.com/t0k3n"
    assert read.max_connections_per_esco == 20
    assert read.emop == ClientSettings(min_gap_seconds=0.2, reuse_connections=True)


def test_secrets_stay_out_of_the_repr() -> None:
    read = Settings.from_environment(
        {
            "FLOWS_DATABASE_URL": "postgresql://flows:hunter2@db/flows",
            "FLOWS_ALERT_WEBHOOK_URL": "https://hooks.example.com/t0k3n",
        }
    )
    assert "hunter2" not in repr(read) and "t0k3n" not in repr(read)


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("FLOWS_SYNC_BUCKETS", "sixteen", "not a whole number"),
        ("FLOWS_SYNC_BUCKETS", "0", "outside 1..256"),
        ("FLOWS_SYNC_BUCKETS", "1000", "outside 1..256"),
        ("FLOWS_SYNC_BUCKETS", "١٦", "not a whole number"),  # Arabic-Indic digits
        ("FLOWS_SYNC_BUCKETS", "--5", "not a whole number"),
        ("FLOWS_SYNC_BUCKETS", "1_6", "not a whole number"),
        ("FLOWS_SYNC_FAN_OUT", "maybe", "not a yes/no value"),
        ("FLOWS_REGISTRY_MAX_REMOVED_SHARE", "abc", "not a number"),
        ("FLOWS_REGISTRY_MAX_REMOVED_SHARE", "-0.1", "share between 0 and 1"),
        ("FLOWS_REGISTRY_MAX_REMOVED_SHARE", "1.5", "share between 0 and 1"),
        ("FLOWS_REGISTRY_MAX_REMOVED_SHARE", "nan", "not a finite number"),
        ("FLOWS_REGISTRY_MAX_REMOVED_SHARE", "10%", "not a number"),
        ("FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO", "abc", "not a whole number"),
        ("FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO", "0", "outside 1.."),
        ("FLOWS_EMOP_TIMEOUT_SECONDS", "soon", "not a number"),
        ("FLOWS_EMOP_REUSE_CONNECTIONS", "perhaps", "not a yes/no value"),
    ],
)
def test_a_bad_value_names_the_variable_and_the_value(name: str, value: str, says: str) -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({name: value})
    assert str(raised.value).startswith(f"{name}={value!r}: ")
    assert says in str(raised.value)


def test_a_client_setting_the_client_refuses_names_the_settings() -> None:
    with pytest.raises(SettingsError, match="FLOWS_EMOP_"):
        Settings.from_environment({"FLOWS_EMOP_ATTEMPTS": "0"})


def test_a_secret_is_not_echoed_when_it_is_bad() -> None:
    with pytest.raises(SettingsError) as raised:
        Settings.from_environment({"FLOWS_DATABASE_URL": "mysql://root:hunter2@db/flows"})
    assert "hunter2" not in str(raised.value)
    assert str(raised.value).startswith("FLOWS_DATABASE_URL=(hidden): ")


def test_every_client_setting_has_a_variable_and_a_resource_field() -> None:
    names = {variable.name for variable in VARIABLES}
    for item in dataclasses.fields(ClientSettings):
        assert f"FLOWS_EMOP_{item.name.upper()}" in names
        assert item.metadata.get("doc"), f"ClientSettings.{item.name} says what it does"
        assert item.name in EmopSettings.model_fields
    assert all(variable.meaning for variable in VARIABLES)


def test_the_resource_hands_the_client_its_settings_unchanged() -> None:
    settings = Settings.from_environment(
        {"FLOWS_EMOP_ATTEMPTS": "5", "FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO": "3"}
    )
    emop = EmopSettings.from_settings(settings)
    assert emop.client_settings() == settings.emop
    assert emop.max_connections_per_esco == 3


# Modules that pass the environment on to a process they start, or set Dagster's own home: they
# read no FLOWS_* setting themselves.
PASSES_THE_ENVIRONMENT_ON = {"cli/main.py", "cli/run.py", "simulator/processes.py"}


def test_only_the_settings_module_reads_the_environment() -> None:
    readers = set()
    for path in PACKAGE_DIR.rglob("*.py"):
        tree = ast.parse(path.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.Attribute) and node.attr in {"environ", "getenv"}:
                readers.add(path.relative_to(PACKAGE_DIR).as_posix())
    assert readers - PASSES_THE_ENVIRONMENT_ON == {"settings.py"}


def test_the_readme_lists_every_setting_with_its_default() -> None:
    readme = (PACKAGE_DIR.parent / "README.md").read_text()
    for variable in VARIABLES:
        assert f"| `{variable.name}` | {variable.default} | {variable.meaning} |" in readme
