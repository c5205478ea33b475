"""The meter alerts sensor against dbt-built marts, with a real HTTP server as the alert webhook."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from dagster import DefaultSensorStatus, Definitions, build_sensor_context

from dagster_project.defs.alerts.sensors import AlertWebhook, meter_alerts_sensor
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.alerts import (
    Alert,
    AlertDeliveryError,
    EpisodeState,
    WebhookNotifier,
    decode_cursor,
    encode_cursor,
)
from dagster_project.domain.registry import parse_registry_csv
from dagster_project.settings import ALERT_WEBHOOK_URL
from dagster_project.warehouse import connection
from dagster_project.warehouse.connection import scratch_database
from dagster_project.warehouse.raw_tables import METER_SYNC_SNAPSHOTS, ensure_raw_tables
from dagster_project.warehouse.registry_store import replace_registry
from dagster_project.warehouse.sync_store import SyncHeader, load_sync
from tests.support.dbt_cli import run_dbt
from tests.support.registry import registry_csv, registry_row
from tests.support.settings import current_settings, warehouse

# The cast: registry_row(n) gives serial EML22000000nn.
A, B, C, D, E, F = range(6)  # C joins the registry later; F stays healthy throughout
METERS = [registry_row(n) for n in range(6)]
FAILED = None
TOKEN = "secret-token-4f1c"
# Only what the sensor reads, so each run stays short. A rebuild must include the views: dbt
# swaps a table in by dropping the old one with cascade, which takes its views with it.
FIRST_BUILD = ("--select", "+meters_low_balance", "+meters_offline_all")
REBUILD = (
    "--select",
    "meter_registry",
    "meter_shadows",
    "meters_low_balance",
    "meters_offline_all",
)


def serial(number: int) -> str:
    return METERS[number]["serial"]


def snapshot(sync_id: uuid.UUID, number: int, at: datetime, balance: str | None) -> tuple:
    values = dict.fromkeys(METER_SYNC_SNAPSHOTS.column_names)
    values.update(sync_id=sync_id, meter_id=uuid.UUID(METERS[number]["id"]), serial=serial(number))
    values.update(polled_at=at, finished_at=at)
    if balance is None:  # FAILED
        values.update(outcome="failed", error_class="MeterTimeoutError", error_message="timeout")
    else:
        values.update(outcome="ok", balance=Decimal(balance), emergency_credit=Decimal("15.00"))
    return tuple(values[name] for name in METER_SYNC_SNAPSHOTS.column_names)


def land_sync(url: str, at: datetime, balances: Mapping[int, str | None]) -> None:
    """One sync as the fleet sync lands it: a balance per meter read, FAILED for a timeout."""
    sync_id = uuid.uuid4()
    rows = [snapshot(sync_id, number, at, balance) for number, balance in balances.items()]
    failed = sum(balance is FAILED for balance in balances.values())
    with connection.connect(url) as conn:
        load_sync(conn, SyncHeader(sync_id, at, at, len(rows) - failed, failed, 0, None), rows)


def load_registry(url: str, numbers: list[int]) -> None:
    csv_text = registry_csv([METERS[n] for n in numbers])
    parsed = parse_registry_csv(csv_text.splitlines(keepends=True))
    with connection.connect(url) as conn:
        replace_registry(conn, parsed.meters, [], "registry.csv", datetime.now(UTC))


def dbt_run(url: str, *args: str) -> None:
    result = run_dbt(url, "run", *args)
    assert result.returncode == 0, result.stdout[-4000:]


@contextmanager
def private_database(server_url: str, prefix: str) -> Iterator[str]:
    """A database of its own with the raw tables: other tests' meters would be alerted too."""
    with scratch_database(server_url, prefix) as url:
        with connection.connect(url) as conn:
            ensure_raw_tables(conn)
        yield url


@dataclass(frozen=True)
class MartsDatabase:
    url: str


@pytest.fixture(scope="module")
def marts_database(database_url: str) -> Iterator[MartsDatabase]:
    """The marts built by dbt over a registry and two syncs; C is not installed yet."""
    with private_database(database_url, "flows_alerts") as url:
        load_registry(url, [A, B, D, E, F])
        start = datetime.now(UTC)
        land_sync(
            url,
            start - timedelta(hours=4),
            {A: "40.00", B: "10.00", D: "35.00", E: FAILED, F: "30.00"},
        )
        land_sync(
            url,
            start - timedelta(minutes=1),
            {A: "40.00", B: "10.00", D: FAILED, E: FAILED, F: "30.00"},
        )
        dbt_run(url, *FIRST_BUILD)
        yield MartsDatabase(url)


@pytest.fixture
def fresh_database(database_url: str) -> Iterator[str]:
    """Raw tables, but dbt has never run."""
    with private_database(database_url, "flows_alerts_fresh") as url:
        yield url


@dataclass(frozen=True)
class Post:
    path: str
    content_type: str | None
    body: dict[str, Any]


@dataclass
class Receiver:
    """What the webhook server got, and how it answers."""

    url: str = ""
    status: int = 200
    posts: list[Post] = field(default_factory=list)


def start_webhook_server(receiver: Receiver) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers["Content-Length"]))
            content_type = self.headers.get("Content-Type")
            receiver.posts.append(Post(self.path, content_type, json.loads(body)))
            self.send_response(receiver.status)
            self.send_header("Location", "/elsewhere")
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    receiver.url = f"http://127.0.0.1:{server.server_port}/hooks/{TOKEN}"
    return server


@pytest.fixture
def receiver(monkeypatch: pytest.MonkeyPatch) -> Iterator[Receiver]:
    """A real HTTP server on a free local port, set as the alert webhook."""
    receiver = Receiver()
    server = start_webhook_server(receiver)
    monkeypatch.setenv(ALERT_WEBHOOK_URL, receiver.url)
    try:
        yield receiver
    finally:
        server.shutdown()
        server.server_close()


@dataclass(frozen=True)
class Tick:
    alerts: list[tuple[str, str]]  # (condition, serial) posted by this evaluation
    cursor: str | None
    message: str | None


def evaluate(url: str, cursor: str | None, receiver: Receiver | None = None) -> Tick:
    """One evaluation as the daemon makes it: the cursor it returns is the next one's."""
    posted_before = len(receiver.posts) if receiver else 0
    # The webhook as the code location wires it: from the settings in the environment.
    resources = {
        "warehouse": WarehouseResource(database_url=url),
        "alert_webhook": AlertWebhook.from_settings(current_settings()),
    }
    # Exiting the context closes the resources it built, as the daemon does after a tick.
    with build_sensor_context(cursor=cursor, resources=resources) as context:
        data = meter_alerts_sensor.evaluate_tick(context)
    assert not data.run_requests
    posts = receiver.posts[posted_before:] if receiver else []
    assert len(posts) <= 1, "one batch per evaluation"
    alerts = [(a["condition"], a["serial"]) for post in posts for a in post.body["alerts"]]
    return Tick(alerts, data.cursor, data.skip_message)


def state(low: set[int], offline: set[int]) -> EpisodeState:
    return EpisodeState(
        low_balance=frozenset(uuid.UUID(METERS[n]["id"]) for n in low),
        offline=frozenset(uuid.UUID(METERS[n]["id"]) for n in offline),
    )


def posted_details(receiver: Receiver, number: int, condition: str) -> dict[str, Any]:
    (alert,) = [
        a
        for a in receiver.posts[-1].body["alerts"]
        if a["serial"] == serial(number) and a["condition"] == condition
    ]
    return alert["details"]


def test_each_episode_is_notified_once(marts_database: MartsDatabase, receiver: Receiver) -> None:
    url = marts_database.url
    first = evaluate(url, None, receiver)  # no cursor: every meter already in a condition
    assert first.alerts == [
        ("low_balance", serial(B)),
        ("offline", serial(D)),
        ("offline", serial(E)),
    ]
    assert posted_details(receiver, B, "low_balance")["balance"] == "10.00"
    assert posted_details(receiver, E, "offline") == {"last_online": None, "minutes_offline": None}
    assert decode_cursor(first.cursor) == state({B}, {D, E})

    again = evaluate(url, first.cursor, receiver)
    assert again.alerts == []
    assert again.cursor == first.cursor
    assert again.message == "No meter entered a condition; now 1 low balance, 2 offline."

    # C is installed: read once an hour ago, silent since. A runs low, B tops up, D answers.
    load_registry(url, [A, B, C, D, E, F])
    land_sync(url, datetime.now(UTC) - timedelta(hours=1), {C: "25.00"})
    land_sync(
        url,
        datetime.now(UTC),
        {A: "12.00", B: "50.00", C: FAILED, D: "35.00", E: FAILED, F: "30.00"},
    )
    dbt_run(url, *REBUILD)
    entered = evaluate(url, again.cursor, receiver)
    assert entered.alerts == [("low_balance", serial(A))]
    assert decode_cursor(entered.cursor) == state({A}, {E})  # B's and D's episodes ended

    # A stays low, B is low again (a new episode), and C passes 3 hours without an answer. The
    # 3 hours pass in the data, not on the clock: C's one read moves back to before them, as
    # the views see it once they are over. (Waiting for them would leave the step before
    # depending on how long dbt takes; the 3-hour line itself is test_threshold_edges.py's.)
    c_last_online = datetime.now(UTC) - timedelta(hours=3, minutes=30)
    with connection.connect(url) as conn:
        moved = conn.execute(
            "update flows_raw.meter_sync_snapshots set polled_at = %s, finished_at = %s "
            "where meter_id = %s and outcome = 'ok'",
            (c_last_online, c_last_online, uuid.UUID(METERS[C]["id"])),
        )
        assert moved.rowcount == 1
    land_sync(
        url,
        datetime.now(UTC),
        {A: "11.00", B: "5.00", C: FAILED, D: "35.00", E: FAILED, F: "30.00"},
    )
    dbt_run(url, *REBUILD)
    before = datetime.now(UTC)
    later = evaluate(url, entered.cursor, receiver)
    after = datetime.now(UTC)
    assert later.alerts == [("low_balance", serial(B)), ("offline", serial(C))]
    c_details = posted_details(receiver, C, "offline")
    assert datetime.fromisoformat(c_details["last_online"]) == c_last_online
    # Whole minutes from the last contact to the evaluation, which came between these two.
    minute = timedelta(minutes=1)
    assert (before - c_last_online) // minute <= c_details["minutes_offline"]
    assert c_details["minutes_offline"] <= (after - c_last_online) // minute
    assert decode_cursor(later.cursor) == state({A, B}, {C, E})

    assert evaluate(url, later.cursor, receiver).alerts == []


def test_the_webhook_gets_the_batch_in_one_post(
    marts_database: MartsDatabase, receiver: Receiver
) -> None:
    tick = evaluate(marts_database.url, None, receiver)
    assert len(receiver.posts) == 1
    post = receiver.posts[0]
    assert (post.path, post.content_type) == (f"/hooks/{TOKEN}", "application/json")
    in_conditions = decode_cursor(tick.cursor)
    posted = {(a["condition"], uuid.UUID(a["meter_id"])) for a in post.body["alerts"]}
    assert posted == {
        (condition, meter_id)
        for condition in ("low_balance", "offline")
        for meter_id in in_conditions.ids(condition)
    }
    assert ("offline", serial(E)) in tick.alerts  # never reached: in every state of the data
    assert len(post.body["text"].splitlines()) == len(post.body["alerts"])
    assert tick.message is not None and "the alert webhook" in tick.message
    assert TOKEN not in tick.message

    assert evaluate(marts_database.url, tick.cursor, receiver).alerts == []
    assert len(receiver.posts) == 1


def test_a_failed_delivery_is_sent_again_next_tick_and_only_once(
    marts_database: MartsDatabase, receiver: Receiver
) -> None:
    receiver.status = 500
    with pytest.raises(AlertDeliveryError, match="the alert webhook answered HTTP 500") as raised:
        evaluate(marts_database.url, None, receiver)
    assert TOKEN not in str(raised.value)
    assert receiver.url.split("/hooks")[0] not in str(raised.value)
    failed_batch = receiver.posts[-1].body["alerts"]

    receiver.status = 200
    # The failed tick left the cursor where it was, so the retry starts from the same one.
    retried = evaluate(marts_database.url, None, receiver)
    assert receiver.posts[-1].body["alerts"] == failed_batch
    assert evaluate(marts_database.url, retried.cursor, receiver).alerts == []
    assert len(receiver.posts) == 2


def test_an_unreachable_webhook_fails_the_evaluation(
    marts_database: MartsDatabase, monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv(ALERT_WEBHOOK_URL, f"http://127.0.0.1:{port}/hooks/{TOKEN}")
    with pytest.raises(AlertDeliveryError, match="could not be reached") as raised:
        evaluate(marts_database.url, None)
    assert TOKEN not in str(raised.value)
    assert str(port) not in str(raised.value)


def test_a_redirect_is_a_failed_delivery_not_a_silent_get(receiver: Receiver) -> None:
    receiver.status = 302
    alert = Alert("offline", uuid.UUID(METERS[E]["id"]), serial(E), "Test house 4", uuid.uuid4())
    with pytest.raises(AlertDeliveryError, match="HTTP 302"):
        WebhookNotifier(receiver.url).notify([alert])
    assert [post.path for post in receiver.posts] == [f"/hooks/{TOKEN}"]


def test_without_a_webhook_the_alerts_go_to_the_log(
    marts_database: MartsDatabase,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    monkeypatch.delenv(ALERT_WEBHOOK_URL, raising=False)
    tick = evaluate(marts_database.url, None)
    logged = capsys.readouterr().err
    assert f"offline: {serial(E)} 'Test house 4'" in logged
    assert "never reached" in logged
    assert tick.message is not None and tick.message.startswith("Notified the log of ")


def test_skips_until_dbt_has_built_the_marts(fresh_database: str, receiver: Receiver) -> None:
    cursor = encode_cursor(state(set(), {E}))
    tick = evaluate(fresh_database, cursor, receiver)
    assert tick.message is not None
    assert "flows.meters_low_balance and flows.meters_offline_all are not in this database yet" in (
        tick.message
    )
    assert tick.cursor == cursor
    assert receiver.posts == []


def test_the_sensor_needs_no_job_and_runs_by_default() -> None:
    assert meter_alerts_sensor.name == "meter_alerts"
    assert meter_alerts_sensor.minimum_interval_seconds == 300
    assert meter_alerts_sensor.default_status == DefaultSensorStatus.RUNNING
    assert meter_alerts_sensor.targets == []
    Definitions.validate_loadable(
        Definitions(
            sensors=[meter_alerts_sensor],
            resources={"warehouse": warehouse(), "alert_webhook": AlertWebhook()},
        )
    )
