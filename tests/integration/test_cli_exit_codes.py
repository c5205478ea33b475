"""What `flows` tells a user and a scheduler: one line and an exit status that means something,
never a traceback. 0 done, 1 could not be done, 2 bad input, 3 `flows run` ran but an
error-severity check did not pass.

Each `flows run` takes a minute, so the runs other tests make carry the rest: exit 3 is
tests/integration/test_registry_export.py (every polled meter of an export fails), and
`--verbose` is the second of the two runs in tests/integration/test_cli.py."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support.flows_cli import flows
from tests.support.registry import registry_csv, registry_row

#: Nothing listens there: a database or meter that does not answer, refused at once.
DEAD_DATABASE = "postgresql://flows:hunter2@127.0.0.1:9/flows?connect_timeout=2"


def assert_one_clean_line(result, status: int, *says: str) -> None:
    """The command failed with `status`, in a few lines of its own, saying each of `says`."""
    output = result.stdout + result.stderr
    assert result.returncode == status, output
    assert "Traceback" not in output
    assert len(result.stderr.strip().splitlines()) <= 4, result.stderr
    for text in says:
        assert text in output, output


@pytest.fixture
def env(tmp_path: Path) -> dict[str, str]:
    return {
        **os.environ,
        "FLOWS_STATE_DIR": str(tmp_path / "state"),
        "DAGSTER_HOME": str(tmp_path / "dagster_home"),
    }


def test_a_clean_run_exits_0_with_a_short_account(database_url: str, env: dict[str, str]) -> None:
    env["FLOWS_DATABASE_URL"] = database_url
    result = flows("run", "--simulate", "--meters", "5", "--faulty-fraction", "0", env=env)
    assert "flows pipeline: success" in result.stdout
    # Progress from the assets' log, one plain line per part when output is not a terminal.
    assert "    sync: 5 of 5 meters (5 ok, 0 failed)" in result.stdout.splitlines()
    assert "\x1b[" not in result.stdout + result.stderr  # no colour codes when redirected
    assert len(result.stdout.splitlines()) < 40


@pytest.mark.parametrize(
    ("args", "setting", "status", "says"),
    [
        (("run", "--simulate", "--meters", "-5"), {}, 2, "--meters"),
        (("run", "--simulate", "--faulty-fraction", "2"), {}, 2, "--faulty-fraction"),
        (("run", "--no-simulate"), {"FLOWS_REGISTRY_CSV": "/nonexistent/registry.csv"}, 2,
         "registry file /nonexistent/registry.csv (FLOWS_REGISTRY_CSV) does not exist"),
        (("run", "--no-simulate"), {"FLOWS_DATABASE_URL": DEAD_DATABASE}, 1,
         "127.0.0.1:9/flows?connect_timeout=2 did not answer"),
        (("db", "status"), {"FLOWS_DATABASE_URL": DEAD_DATABASE}, 1, "does not answer"),
        (("db", "url"), {"FLOWS_SYNC_BUCKETS": "abc"}, 2, "FLOWS_SYNC_BUCKETS='abc'"),
        (("connections",), {"FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO": "abc"}, 2,
         "FLOWS_EMOP_MAX_CONNECTIONS_PER_ESCO='abc': is not a whole number"),
        (("run",), {"FLOWS_DATABASE_URL": "mysql://root:hunter2@db/flows"}, 2,
         "FLOWS_DATABASE_URL=(hidden): is not a postgresql:// URL"),
        (("registry", "check", "/nonexistent/registry.csv"), {}, 2, "does not exist"),
    ],
)  # fmt: skip
def test_bad_input_and_unreachable_databases_get_one_line_and_a_status(
    env: dict[str, str],
    args: tuple[str, ...],
    setting: dict[str, str],
    status: int,
    says: str,
) -> None:
    result = flows(*args, env=env | setting, check=False)
    assert_one_clean_line(result, status, says)
    assert "hunter2" not in result.stdout + result.stderr


def test_db_url_masks_the_password_unless_asked(env: dict[str, str]) -> None:
    env["FLOWS_DATABASE_URL"] = DEAD_DATABASE
    assert flows("db", "url", env=env).stdout.strip() == DEAD_DATABASE.replace("hunter2", "***")
    shown = flows("db", "url", "--show-password", env=env).stdout.strip()
    assert shown == DEAD_DATABASE


def test_version(env: dict[str, str]) -> None:
    assert flows("--version", env=env).stdout.startswith("flows, version ")


def test_registry_check_prints_the_rejects_of_a_real_export_without_a_database(
    env: dict[str, str],
) -> None:
    # A dead database URL: the check must not need one.
    env["FLOWS_DATABASE_URL"] = DEAD_DATABASE
    export = Path(__file__).parents[1] / "fixtures" / "registry_export.csv"
    result = flows("registry", "check", str(export), env=env, check=False)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0] == f"{export}: 26 meters valid, 6 rows rejected (6 problems)"
    reason = "not a UUID, nor the code of an ESCO in escos.csv"
    assert f"  row 29 (serial EML2137580848): esco 'bec': {reason}" in lines
    # With the operator's escos.csv beside it, the ESCO named by code is known.
    beside = Path(env["FLOWS_STATE_DIR"]).parent / "export"
    beside.mkdir()
    (beside / "registry.csv").write_bytes(export.read_bytes())
    (beside / "escos.csv").write_text("code,name\nBEC,Brook Energy Co-operative\n")
    coded = flows("registry", "check", str(beside / "registry.csv"), env=env, check=False)
    assert coded.stdout.splitlines()[0].endswith("27 meters valid, 5 rows rejected (5 problems)")
    assert f"  ESCO codes looked up in {beside / 'escos.csv'} (1 ESCOs)" in coded.stdout
    assert "esco 'bec'" not in coded.stdout
    good = Path(env["FLOWS_STATE_DIR"]).parent / "good.csv"
    good.write_text(registry_csv([registry_row(n) for n in range(3)]))
    clean = flows("registry", "check", str(good), env=env)
    assert clean.stdout.strip() == f"{good}: 3 meters valid, 0 rows rejected (0 problems)"
