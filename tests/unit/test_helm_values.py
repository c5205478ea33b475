"""deploy/helm/values.yaml: no secret inlined, runs on Kubernetes, limits as in dagster.yaml."""

import re
from collections.abc import Iterator
from typing import Any

import pytest
import yaml
from dagster._config import process_config
from dagster._core.run_coordinator import QueuedRunCoordinator

from dagster_project.defs.resources import EmopSettings
from dagster_project.paths import PROJECT_ROOT
from dagster_project.settings import Settings

VALUES = PROJECT_ROOT / "deploy" / "helm" / "values.yaml"
DAGSTER_YAML = PROJECT_ROOT / "deploy" / "dagster.yaml"
FLOWS_VARIABLES = {"FLOWS_DATABASE_URL", "FLOWS_ALERT_WEBHOOK_URL"}
#: Settings, not secrets: plain values in the chart.
FLOWS_SETTINGS = {"FLOWS_SYNC_BUCKETS", "FLOWS_SYNC_FAN_OUT", "FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO"}
# user:password@ in a URL, or a database or webhook URL at all (those belong in the Secret)
CREDENTIALS_IN_URL = re.compile(r"://[^/@\s:]+:[^@\s]+@")
SECRET_URL = re.compile(r"^(postgres(ql)?(\+\w+)?|https?)://")


@pytest.fixture(scope="module")
def values() -> dict[str, Any]:
    return yaml.safe_load(VALUES.read_text())


def env_lists(node: Any) -> Iterator[list[dict[str, Any]]]:
    """Every `env:` list of Kubernetes EnvVars anywhere in the values."""
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "env" and isinstance(child, list):
                yield child
            else:
                yield from env_lists(child)
    elif isinstance(node, list):
        for child in node:
            yield from env_lists(child)


def strings(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        for child in node.values():
            yield from strings(child)
    elif isinstance(node, list):
        for child in node:
            yield from strings(child)
    elif isinstance(node, str):
        yield node


def test_flows_variables_come_from_a_secret(values: dict[str, Any]) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    from_secrets = {
        var["name"]: var["valueFrom"]["secretKeyRef"]
        for var in deployment["env"]
        if "secretKeyRef" in var.get("valueFrom", {})
    }
    assert set(from_secrets) >= FLOWS_VARIABLES
    assert deployment["includeConfigInLaunchedRuns"]["enabled"] is True

    for env in env_lists(values):
        for var in env:
            if var["name"] in FLOWS_VARIABLES:
                assert "value" not in var, f"{var['name']} is written into the values"
                assert "secretKeyRef" in var["valueFrom"], var["name"]
            elif var["name"].startswith("FLOWS_"):
                assert var["name"] in FLOWS_SETTINGS, f"{var['name']} is neither secret nor setting"
    # Run pods get the same Secret whatever the deployment passes on.
    run_launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    secret_names = {ref["name"] for ref in from_secrets.values()}
    assert {secret["name"] for secret in run_launcher["envSecrets"]} == secret_names


def test_no_password_or_url_with_credentials_is_inlined(values: dict[str, Any]) -> None:
    assert values["generatePostgresqlPasswordSecret"] is False
    assert values["global"]["postgresqlSecretName"]
    assert "postgresqlPassword" not in values["postgresql"]
    assert not [text for text in strings(values) if CREDENTIALS_IN_URL.search(text)]
    assert not [text for text in strings(values) if SECRET_URL.match(text)]


def test_runs_on_kubernetes_against_an_existing_postgresql(values: dict[str, Any]) -> None:
    assert values["runLauncher"]["type"] == "K8sRunLauncher"
    postgresql = values["postgresql"]
    assert postgresql["enabled"] is False
    assert postgresql["postgresqlHost"] and postgresql["postgresqlDatabase"]
    assert postgresql["postgresqlParams"] == {"sslmode": "require"}

    (deployment,) = values["dagster-user-deployments"]["deployments"]
    assert deployment["dagsterApiGrpcArgs"] == ["--module-name", "dagster_project.definitions"]
    assert deployment["port"] == 3030
    assert values["telemetry"] == {"enabled": False}


def test_the_run_queue_and_retention_match_dagster_yaml(values: dict[str, Any]) -> None:
    instance = yaml.safe_load(DAGSTER_YAML.read_text())
    coordinator = values["dagsterDaemon"]["runCoordinator"]
    assert coordinator["type"] == "QueuedRunCoordinator"
    queue = coordinator["config"]["queuedRunCoordinator"]
    runs = instance["concurrency"]["runs"]
    assert queue["maxConcurrentRuns"] == runs["max_concurrent_runs"]
    assert queue["tagConcurrencyLimits"] == runs["tag_concurrency_limits"]

    # What the chart renders into run_coordinator.config is valid config for Dagster's coordinator.
    rendered = {
        "max_concurrent_runs": queue["maxConcurrentRuns"],
        "tag_concurrency_limits": queue["tagConcurrencyLimits"],
    }
    assert process_config(QueuedRunCoordinator.config_type(), rendered).success

    retention = values["retention"]
    assert retention["enabled"] is True
    for kind in ("schedule", "sensor"):
        days = retention[kind]["purgeAfterDays"]
        assert days == instance["retention"][kind]["purge_after_days"]
    # The chart takes per-status retention only with all four statuses.
    statuses = {"skipped", "success", "failure", "started"}
    assert set(retention["sensor"]["purgeAfterDays"]) == statuses


def test_the_sync_fans_out_with_the_same_split_in_the_code_server_and_the_run_pods(
    values: dict[str, Any],
) -> None:
    (deployment,) = values["dagster-user-deployments"]["deployments"]
    settings = {var["name"]: var["value"] for var in deployment["env"] if "value" in var}
    run_pods = dict(
        entry.split("=", 1)
        for entry in values["runLauncher"]["config"]["k8sRunLauncher"]["envVars"]
    )
    assert settings == run_pods
    read = Settings.from_environment(settings)
    assert read.sync_buckets > 1 and read.sync_fan_out
    # Every run that contacts meters shares one cap per ESCO.
    assert EmopSettings.from_settings(read).max_connections_per_esco == 100


def test_the_run_launcher_config_is_valid_for_dagster_k8s(values: dict[str, Any]) -> None:
    from dagster_k8s import K8sRunLauncher

    launcher = values["runLauncher"]["config"]["k8sRunLauncher"]
    # The chart renders these keys (camelCase in the values) into the launcher's config; the
    # namespace and service account it fills in itself.
    rendered = {
        "env_secrets": [secret["name"] for secret in launcher["envSecrets"]],
        "env_vars": launcher["envVars"],
        "service_account_name": "flows-dagster",
        "job_namespace": "flows",
        "instance_config_map": "flows-dagster-instance",
    }
    result = process_config(K8sRunLauncher.config_type(), rendered)
    assert result.success, result.errors


def _pins(lock: str) -> dict[str, str]:
    return dict(
        line.split("==", 1) for line in lock.splitlines() if "==" in line and line[0].isalnum()
    )


def test_the_image_installs_the_versions_the_tests_ran_with() -> None:
    image = _pins((PROJECT_ROOT / "deploy" / "requirements-image.lock").read_text())
    development = _pins((PROJECT_ROOT / "requirements.lock").read_text())
    assert image["dagster-k8s"] == image["dagster-postgres"] == "0.29.27"
    differing = {
        name: (v, development.get(name)) for name, v in image.items() if development.get(name) != v
    }
    assert not differing, (
        f"deploy/requirements-image.lock differs from requirements.lock: {differing}"
    )
    # The image carries no test or lint tools.
    assert not {"pytest", "playwright", "ruff"} & set(image)
    dockerfile = (PROJECT_ROOT / "Dockerfile").read_text()
    assert "-r deploy/requirements-image.lock" in dockerfile
    assert "prepare-and-package --file dagster_project/defs/dbt/project.py" in dockerfile
