"""The Dagster UI in a browser, used as a person would after `make dev`.

`make dev` serves a small simulated fleet. In Chromium the test looks at the asset graph from the
registry to the marts with their checks, materializes every bucket of the fleet sync (a backfill
that runs as one run), waits for the run to succeed and reads the sync's metadata, which must
match the database and the fleet's faults.
Each step leaves a screenshot in the test's temporary folder, or in FLOWS_SCREENSHOTS_DIR when
set: `FLOWS_SCREENSHOTS_DIR=docs/screenshots .venv/bin/pytest tests/e2e` refreshes the README's.
"""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote

import psycopg
import pytest
from dagster import DagsterInstance, materialize
from playwright.sync_api import Error as PlaywrightError
from playwright.sync_api import Locator, Page, expect, sync_playwright

from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.paths import PROJECT_ROOT
from dagster_project.simulator import FleetConfig
from dagster_project.simulator.config import GARBAGE, NAK, TOO_SOON
from dagster_project.simulator.identity import assign_faults
from dagster_project.warehouse import connection
from tests.support.settings import SYNC, code_location, registry_source

SCREENSHOTS_ENV = "FLOWS_SCREENSHOTS_DIR"
# 40% of 20 meters: one meter with each kind of fault.
FLEET = FleetConfig(meters=20, seed=11, faulty_fraction=0.4)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
VIEWPORT = {"width": 1920, "height": 1080}
UI_START_SECONDS = 240  # make may first have to bring .venv or dbt's manifest up to date
RUN_SECONDS = 300
STOP_SECONDS = 60
GRAPH_FROM_REGISTRY_TO_MARTS = '+key:"flows/meters_low_balance"'
SYNC_ONLY = f'key:"{METER_SYNC_SNAPSHOTS.to_user_string()}"'
BUCKETS = SYNC.partitions.get_partition_keys()
SYNC_ASSET_PATH = "/assets/" + METER_SYNC_SNAPSHOTS.to_user_string()
SCHEDULE_PATH = "/locations/flows/schedules/fleet_sync_every_15_minutes"  # workspace.yaml's name


def failing_meters(config: FleetConfig) -> int:
    """The fleet's faulty meters, less those whose reads still count as reached: noise before the
    frame (the client reads through it), one refused object and a meter that hangs up after its
    first answer (partial reads)."""
    return sum(kind not in (GARBAGE, NAK, TOO_SOON) for kind in assign_faults(config).values())


def sync_check_names() -> list[str]:
    graph = code_location().resolve_asset_graph()
    return sorted(
        key.name for key in graph.asset_check_keys if key.asset_key == METER_SYNC_SNAPSHOTS
    )


def test_ui_shows_the_graph_runs_a_fleet_sync_and_shows_its_metadata(
    chromium: Path, e2e_database_url: str, tmp_path: Path
) -> None:
    # A test run must not rewrite the README's images in the checkout unless asked to.
    screenshots = Path(os.environ.get(SCREENSHOTS_ENV) or tmp_path / "screenshots").resolve()
    screenshots.mkdir(parents=True, exist_ok=True)
    failing = failing_meters(FLEET)
    checks = sync_check_names()
    assert 0 < failing < FLEET.meters and checks

    with make_dev(e2e_database_url, tmp_path) as dev, chromium_page(chromium, tmp_path) as page:
        # The 15-minute schedule would start a whole pipeline run beside the test's when the
        # clock passes a quarter hour, and slow it down: switch it off on its page.
        page.goto(dev.url + SCHEDULE_PATH)
        # The instance flows made has the new-user dialog off: the page is usable at once.
        expect(page.get_by_role("button", name="Skip")).to_have_count(0)
        switch_off(page)

        # The asset graph from the registry file through the sync and staging to the marts.
        page.goto(lineage_url(dev.url, GRAPH_FROM_REGISTRY_TO_MARTS))
        expand_all_groups(page)
        zoom_until_named(page, "meter_sync_snapshots")
        for group in ("registry", "sync", "staging", "marts"):
            expect(page.get_by_text(group, exact=True).first).to_be_visible()
        for asset in ("meter_sync_snapshots", "meter_shadows", "meters_low_balance"):
            expect(page.get_by_text(asset, exact=True).first).to_be_visible()
        # flows_raw/meter_registry, and the mart flows/meter_registry.
        expect(page.get_by_text("meter_registry", exact=True)).to_have_count(2)
        expect(graph_node(page, "meter_sync_snapshots")).to_contain_text(f"/ {len(checks)} Passed")
        page.screenshot(path=screenshots / "asset-graph.png")

        # The registry as the last cycle left it, so that the sync alone can be materialized.
        load_registry(e2e_database_url, tmp_path)

        # Materialize every bucket of the sync: the partition dialog makes it a backfill, which
        # the sync's backfill policy runs as one run.
        page.goto(lineage_url(dev.url, SYNC_ONLY))
        page.get_by_role("button", name="Materialize…").click()
        dialog = page.get_by_role("dialog")
        dialog.get_by_role("button", name="All", exact=True).click()
        expect(dialog.get_by_text(f"{len(BUCKETS)} partitions", exact=True)).to_be_visible()
        page.screenshot(path=screenshots / "launch.png")
        page.get_by_role("button", name="Launch backfill").click()
        backfill = page.locator('a[href^="/runs/b/"]').first
        expect(backfill).to_be_attached()
        backfill_path = (backfill.get_attribute("href") or "").split("?")[0]
        page.goto(dev.url + backfill_path.rstrip("/") + "?tab=runs")
        run_link = page.locator('a[href^="/runs/"]:not([href^="/runs/b/"])').filter(
            has_text=re.compile(r"^[0-9a-f]{8}$")
        )
        expect(run_link.first).to_be_visible(timeout=RUN_SECONDS * 1000)
        run_path = run_link.first.get_attribute("href") or ""
        run_id = run_path.rsplit("/", 1)[-1]

        page.goto(dev.url + run_path)
        assert wait_for_run_status(page) == "Success", dev.output()
        page.screenshot(path=screenshots / "run-success.png")

        # The sync asset's latest materialization: the counts the sync recorded.
        page.goto(dev.url + SYNC_ASSET_PATH)
        keys = ("sync_id", "meters_ok", "meters_failed")
        shown = {key: metadata_value(page, key) for key in keys}
        page.get_by_text("Metadata", exact=True).first.scroll_into_view_if_needed()
        page.screenshot(path=screenshots / "sync-metadata.png")

        # Its checks, on the asset's Checks tab.
        page.goto(dev.url + SYNC_ASSET_PATH + "?view=checks")
        expect(page.get_by_text(f"Checks ({len(checks)})")).to_be_visible()
        for check in checks:
            expect(page.get_by_text(check, exact=True).first).to_be_visible()
        page.screenshot(path=screenshots / "sync-checks.png")

    with connection.connect(e2e_database_url) as conn:
        ours = run_syncs(conn, run_id)
    # One sync per bucket, together the whole fleet with its faulty meters failed; the page
    # shows the run's syncs and counts.
    assert sorted(bucket for bucket, *_ in ours) == BUCKETS, f"run {run_id} landed {ours}"
    assert {sync_id for _, sync_id, *_ in ours} == set(shown["sync_id"].split(", "))
    assert sum(ok for *_, ok, _ in ours) == FLEET.meters - failing
    assert sum(failed for *_, failed in ours) == failing
    assert (int(shown["meters_ok"]), int(shown["meters_failed"])) == (
        FLEET.meters - failing,
        failing,
    )
    # make dev stopped everything it started: webserver, daemon, code servers, run workers.
    for server in ("webserver", "daemon", "code-server"):
        assert any(server in command for command in dev.stopped), dev.stopped
    assert dev.leftovers == [], f"processes left after make dev stopped: {dev.leftovers}"


def run_syncs(conn: psycopg.Connection, run_id: str) -> list[tuple[str, str, int, int]]:
    return conn.execute(
        "select bucket, sync_id::text, meters_ok, meters_failed "
        "from flows_raw.meter_syncs where run_id = %s",
        (run_id,),
    ).fetchall()


def load_registry(database_url: str, tmp_path: Path) -> None:
    """Load the registry make dev's fleet wrote, recorded in make dev's Dagster instance."""
    csv_path = tmp_path / "state" / "simulated_fleet" / "meter_registry.csv"
    with DagsterInstance.from_config(str(tmp_path / "dagster")) as instance:
        result = materialize(
            [meter_registry_raw],
            instance=instance,
            resources={
                "warehouse": WarehouseResource(database_url=database_url),
                "registry_source": registry_source(),
            },
            run_config={
                "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(csv_path)}}}
            },
        )
    assert result.success


# --- The UI ----------------------------------------------------------------------------------


def lineage_url(ui: str, selection: str) -> str:
    """The global asset lineage filtered to an asset selection, as the search box leaves it."""
    return f"{ui}/asset-groups~{quote(selection, safe='')}"


def switch_off(page: Page) -> None:
    """Turn off the page's one switch (a schedule's or a sensor's)."""
    switch = page.get_by_role("checkbox")
    expect(switch).to_be_checked()
    switch.locator("xpath=..").click()  # its label: the checkbox itself is drawn over
    expect(switch).not_to_be_checked()


def expand_all_groups(page: Page) -> None:
    """Show the assets inside the group boxes (the graph's shortcut Alt+E, once it listens)."""
    expect(page.get_by_role("button", name="Materialize all")).to_be_visible()
    expanded = re.compile(r"[?&]expanded=")
    for _ in range(20):
        page.keyboard.press("Alt+e")
        with suppress(AssertionError):
            expect(page).to_have_url(expanded, timeout=3000)
            return
    expect(page).to_have_url(expanded, timeout=1)


def zoom_until_named(page: Page, asset_name: str) -> None:
    """Zoom in until the graph spells the asset's name out: a graph fitted to a wide lineage
    starts zoomed out, where long names are cut short with an ellipsis. The graph first
    renders, then fits itself to the window: wait until it stops moving before judging."""
    name = page.get_by_text(asset_name, exact=True)
    for _ in range(6):
        # A short name, never cut: where it sits tells whether the graph still moves.
        anchor = page.get_by_text("meters_low_balance", exact=True).first
        wait_until_still(page.get_by_role("button", name="zoom_in"), anchor)
        if name.count() and name.first.is_visible():
            return
        page.get_by_role("button", name="zoom_in").click()
    expect(name.first).to_be_visible(timeout=1)


def wait_until_still(ready: Locator, moving: Locator) -> None:
    """Once `ready` shows, poll `moving`'s box until two looks a moment apart agree (the graph's
    fit and zoom are animated)."""
    expect(ready).to_be_visible()
    before = None
    for _ in range(50):
        box = moving.bounding_box()
        if box is not None and box == before:
            return
        before = box
        moving.page.wait_for_timeout(300)


def graph_node(page: Page, asset_name: str):
    """The innermost element of the graph that holds the asset's name and its checks row."""
    name = page.get_by_text(asset_name, exact=True)
    return page.locator("div").filter(has=name).filter(has_text="Asset checks").last


def wait_for_run_status(page: Page) -> str:
    """The run page's status once the run has ended."""
    deadline = time.monotonic() + RUN_SECONDS
    while time.monotonic() < deadline:
        for status in ("Success", "Failure", "Canceled"):
            if page.get_by_text(status, exact=True).count():
                return status
        page.wait_for_timeout(2000)
    return f"not finished after {RUN_SECONDS} s"


def metadata_value(page: Page, key: str) -> str:
    """A value of the materialization's metadata table on the asset's overview."""
    row = page.locator("tr").filter(has=page.get_by_text(key, exact=True)).first
    expect(row).to_be_visible()
    return row.locator("td").last.inner_text().strip()


@contextmanager
def chromium_page(executable: Path, tmp_path: Path) -> Iterator[Page]:
    """Debian's chromium with a fresh profile, driven by Playwright; on a failure the page is
    saved as failure.png beside the test's other files."""
    with sync_playwright() as playwright:
        context = playwright.chromium.launch_persistent_context(
            str(tmp_path / "chromium-profile"),
            executable_path=str(executable),
            args=CHROMIUM_ARGS,
            headless=True,
            viewport=VIEWPORT,
        )
        try:
            context.set_default_timeout(60_000)
            expect.set_options(timeout=60_000)
            page = context.pages[0] if context.pages else context.new_page()
            try:
                yield page
            except BaseException:
                with suppress(PlaywrightError):
                    page.screenshot(path=tmp_path / "failure.png")
                raise
        finally:
            context.close()


# --- make dev --------------------------------------------------------------------------------


@dataclass
class DevServer:
    url: str
    log: Path
    #: The processes of make dev when it was stopped, and those still alive afterwards.
    stopped: list[str] = field(default_factory=list)
    leftovers: list[str] = field(default_factory=list)

    def output(self) -> str:
        return self.log.read_text(errors="replace")[-6000:]


@contextmanager
def make_dev(database_url: str, tmp_path: Path) -> Iterator[DevServer]:
    """`make dev` serving FLEET, in a process group of its own. At the end the group gets
    SIGTERM, as from a service manager; its processes are recorded in `stopped`, and those still
    alive afterwards in `leftovers` (then killed)."""
    port = free_port()
    dev_args = (
        f"--port {port} --simulate --meters {FLEET.meters} --seed {FLEET.seed} "
        f"--faulty-fraction {FLEET.faulty_fraction}"
    )
    outer_make = {"MAKEFLAGS", "MFLAGS", "MAKELEVEL", "FLOWS_REGISTRY_CSV"}
    env = {key: value for key, value in os.environ.items() if key not in outer_make}
    env |= {
        "FLOWS_DATABASE_URL": database_url,
        "DAGSTER_HOME": str(tmp_path / "dagster"),
        "FLOWS_STATE_DIR": str(tmp_path / "state"),
        "PYTHONUNBUFFERED": "1",
    }
    (tmp_path / "state").mkdir()
    server = DevServer(f"http://127.0.0.1:{port}", tmp_path / "make-dev.log")
    with server.log.open("wb") as log:
        make = subprocess.Popen(
            ["make", "--no-print-directory", "dev", f"DEV_ARGS={dev_args}"],
            cwd=PROJECT_ROOT,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    try:
        wait_until_serving(server, make)
        yield server
    finally:
        server.stopped, server.leftovers = stop_group(make)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_serving(server: DevServer, make: subprocess.Popen) -> None:
    deadline = time.monotonic() + UI_START_SECONDS
    while time.monotonic() < deadline:
        if make.poll() is not None:
            pytest.fail(f"make dev exited with {make.returncode}:\n{server.output()}")
        with suppress(OSError), urllib.request.urlopen(f"{server.url}/server_info", timeout=5):
            return
        time.sleep(1)
    pytest.fail(f"the UI did not answer within {UI_START_SECONDS} s:\n{server.output()}")


@dataclass(frozen=True)
class Process:
    pid: int
    ppid: int
    pgid: int
    state: str
    started: int  # clock ticks after boot: a pid reused later has another

    def alive(self, now: dict[int, Process]) -> bool:
        current = now.get(self.pid)
        return current is not None and current.started == self.started and current.state != "Z"

    def command(self) -> str:
        with suppress(OSError):
            return Path(f"/proc/{self.pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()
        return "?"


def processes() -> dict[int, Process]:
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        with suppress(OSError):
            stat = (entry / "stat").read_text()
            # pid (command) state ppid pgrp session tty tpgid flags ... starttime is field 22.
            fields = stat[stat.rindex(")") + 2 :].split()
            pid = int(entry.name)
            found[pid] = Process(pid, int(fields[1]), int(fields[2]), fields[0], int(fields[19]))
    return found


def stop_group(make: subprocess.Popen) -> tuple[list[str], list[str]]:
    """SIGTERM to make's process group. Returns make's descendants and the members of their
    process groups, before, and those of them alive after it stopped."""
    before = processes()
    tree = {make.pid}
    while children := {p.pid for p in before.values() if p.ppid in tree} - tree:
        tree |= children
    groups = {before[pid].pgid for pid in tree if pid in before}
    watched = {p.pid: p for p in before.values() if p.pid in tree or p.pgid in groups}
    stopped = [f"{p.pid} {p.command()}" for p in watched.values()]
    with suppress(ProcessLookupError):
        os.killpg(make.pid, signal.SIGTERM)
    with suppress(subprocess.TimeoutExpired):
        make.wait(STOP_SECONDS)
    now = processes()
    # Also any process that joined those groups after the first look.
    watched |= {p.pid: p for p in now.values() if p.pgid in groups and p.pid not in watched}
    left = [p for p in watched.values() if p.alive(now)]
    for process in left:
        with suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
    make.wait(10)
    return stopped, [f"{p.pid} {p.command()}" for p in left]
