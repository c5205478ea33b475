"""The README runs as written: each of its shell blocks is run here, in order, the way a user runs
it right after the quick start (a simulated fleet's `flows run`), and must end with the exit
status the README gives (0 unless its marker says otherwise) and no traceback.

The blocks find the serials, ESCOs and dates they use themselves (from the database, or from
`date`), so the README holds nothing a fleet other than the user's may lack. See
tests/support/readme.py for the markers.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from dagster_project.paths import PROJECT_ROOT
from dagster_project.settings import DATABASE_URL, REGISTRY_MAX_REMOVED_SHARE
from dagster_project.warehouse.connection import scratch_database
from tests.support.flows_cli import flows
from tests.support.readme import MODES, README, ShellBlock, for_this_checkout, shell_blocks

VENV_BIN = Path(sys.executable).parent
BLOCKS = shell_blocks()
#: The file the simulator block writes in the checkout, as a user's shell would.
FLEET_DIR = PROJECT_ROOT / "fleet"


@pytest.fixture(scope="module")
def state_dir() -> Iterator[Path]:
    # Short: the embedded server's unix socket lives under it, and socket paths are capped
    # at about 100 bytes.
    folder = Path(tempfile.mkdtemp(prefix="flows-readme-"))
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture(scope="module")
def fresh_database(database_url: str) -> Iterator[str]:
    """A database of the test's own, as a new user's is: the session's holds other tests'
    registries, which the removal guard would refuse to replace."""
    with scratch_database(database_url, "flows_readme") as url:
        yield url


@pytest.fixture(scope="module")
def user_env(fresh_database: str, state_dir: Path) -> dict[str, str]:
    """A user's environment after the quick start, pointing at a fresh database."""
    env = {
        **os.environ,
        DATABASE_URL: fresh_database,
        "FLOWS_STATE_DIR": str(state_dir / "state"),
        "DAGSTER_HOME": str(state_dir / "dagster_home"),
        # Simulated meters need no pause between requests; with the real meters' 2 s the
        # syncs here would take minutes.
        "FLOWS_EMOP_MIN_GAP_SECONDS": "0",
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "false",
    }
    # The test session lifts the registry's removal guard (tests/conftest.py); a user has it.
    env.pop(REGISTRY_MAX_REMOVED_SHARE, None)
    return env


@pytest.fixture(scope="module")
def quick_start(user_env: dict[str, str]) -> str:
    """What `make run` leaves behind, on a smaller fleet: its output."""
    return flows("run", "--simulate", "--meters", "20", "--seed", "1", env=user_env).stdout


@pytest.fixture(scope="module")
def embedded_env(user_env: dict[str, str], state_dir: Path) -> Iterator[dict[str, str]]:
    """A user's environment without FLOWS_DATABASE_URL: an embedded server of its own."""
    env = {**user_env, "FLOWS_STATE_DIR": str(state_dir / "embedded")}
    env.pop(DATABASE_URL)
    yield env
    # A block that failed midway may have left it running.
    flows("db", "stop", "--force", env=env, check=False)


@pytest.fixture(scope="module", autouse=True)
def fleet_dir_removed() -> Iterator[None]:
    """The simulator block writes its registry and infrastructure files into fleet/ in the
    checkout: remove it after, unless it was there before (then it is the user's)."""
    existed = FLEET_DIR.exists()
    yield
    if not existed:
        shutil.rmtree(FLEET_DIR, ignore_errors=True)


def test_every_shell_block_says_how_it_is_tested() -> None:
    unmarked = [block.name for block in BLOCKS if block.mode not in MODES]
    assert not unmarked, f"shell blocks without a readme-test marker: {unmarked}"
    unexplained = [block.name for block in BLOCKS if block.mode == "skip" and not block.reason]
    assert not unexplained, f"skipped blocks must say why: {unexplained}"
    assert any(block.mode != "skip" for block in BLOCKS)


def test_the_quick_start_summary_has_the_lines_the_run_prints(quick_start: str) -> None:
    # The README's sample is of a 100-meter fleet; its numbers differ, its lines may not.
    sample = re.search(r"^```\n(flows run:.*?)^```", README.read_text(), re.MULTILINE | re.DOTALL)
    assert sample, "README.md: the sample output of make run is gone"
    assert summary_labels(sample.group(1)) == summary_labels(quick_start)


def summary_labels(output: str) -> list[str]:
    """The labels of the summary's lines (`  sync:            ...`), in order."""
    return re.findall(r"^  ([a-z][a-z ]*):\s{2,}", output, re.MULTILINE)


@pytest.mark.parametrize("block", BLOCKS, ids=[block.name for block in BLOCKS])
def test_readme_block_runs(block: ShellBlock, request: pytest.FixtureRequest) -> None:
    if block.mode == "skip":
        pytest.skip(block.reason)
    assert shutil.which("psql"), "the README's examples use psql (postgresql-client)"
    request.getfixturevalue("quick_start")
    fixture = "embedded_env" if block.mode == "embedded" else "user_env"
    env: dict[str, str] = request.getfixturevalue(fixture)

    result = run_block(block, env)

    shown = (
        f"{block.script}\n--- stdout\n{result.stdout[-4000:]}\n--- stderr\n{result.stderr[-4000:]}"
    )
    assert result.returncode == block.exit_status, f"exit {result.returncode}:\n{shown}"
    assert "Traceback" not in result.stdout + result.stderr, shown


def run_block(block: ShellBlock, env: dict[str, str]) -> subprocess.CompletedProcess:
    """Run the block with bash from the checkout, stopping on the first failing command, and
    end whatever it left in the background (a simulator, when a later command failed)."""
    script = "set -euo pipefail\n" + for_this_checkout(block.script, VENV_BIN)
    child = subprocess.Popen(
        ["bash", "-c", script],
        cwd=PROJECT_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, so that its children can be ended
    )
    try:
        stdout, stderr = child.communicate(timeout=240)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(child.pid, signal.SIGTERM)
        if child.poll() is None:
            child.kill()
            child.communicate()
    return subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
