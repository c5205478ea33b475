"""The meter alerts sensor: one notification per low-balance or offline episode."""

from __future__ import annotations

from collections import Counter

import psycopg
from dagster import (
    ConfigurableResource,
    DefaultSensorStatus,
    EnvVar,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)
from psycopg.rows import dict_row
from pydantic import Field

from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.alerts import (
    CONDITIONS,
    WEBHOOK_NAME,
    Alert,
    Condition,
    EpisodeState,
    Row,
    WebhookNotifier,
    decode_cursor,
    encode_cursor,
    notifier,
    track_episodes,
)
from dagster_project.settings import ALERT_WEBHOOK_URL, Settings

# The marts' columns the alerts carry, named so a contract change fails loudly here.
CONDITION_QUERIES: dict[Condition, str] = {
    "low_balance": (
        "select id, serial, name, esco, balance, emergency_credit, balance_updated_at "
        "from flows.meters_low_balance"
    ),
    "offline": (
        "select id, serial, name, esco, last_online, minutes_offline from flows.meters_offline_all"
    ),
}
MARTS = "flows.meters_low_balance and flows.meters_offline_all"


class AlertWebhook(ConfigurableResource):
    """Where meter alerts are posted; empty: the log."""

    url: str | None = Field(
        default=None,
        description=(
            "Webhook URL. Set from FLOWS_ALERT_WEBHOOK_URL as a reference to the variable, so "
            "that a token in it is neither shown in the UI nor stored with runs."
        ),
    )

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertWebhook:
        return cls(url=EnvVar(ALERT_WEBHOOK_URL) if settings.alert_webhook_url else None)


def read_conditions(conn: psycopg.Connection) -> dict[Condition, list[Row]]:
    """Both marts from one snapshot, so a meter is judged against a single "now"."""
    conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
    conn.read_only = True
    with conn.transaction(), conn.cursor(row_factory=dict_row) as cursor:
        return {
            condition: cursor.execute(query).fetchall()
            for condition, query in CONDITION_QUERIES.items()
        }


def summary(alerts: list[Alert], state: EpisodeState, destination: str) -> str:
    """The tick's message in the UI: what was sent, and how many meters are in each condition."""
    now_in = ", ".join(f"{len(state.ids(c))} {c.replace('_', ' ')}" for c in CONDITIONS)
    if not alerts:
        return f"No meter entered a condition; now {now_in}."
    counts = Counter(alert.condition for alert in alerts)
    new = ", ".join(f"{counts[c]} {c.replace('_', ' ')}" for c in CONDITIONS if counts[c])
    return f"Notified {destination} of {new}; now {now_in}."


@sensor(
    name="meter_alerts",
    minimum_interval_seconds=5 * 60,
    default_status=DefaultSensorStatus.RUNNING,
    description=(
        "Notifies once per episode when meters enter flows.meters_low_balance or "
        f"flows.meters_offline_all: to the webhook in {ALERT_WEBHOOK_URL} when set, else the log. "
        "The cursor holds the meter ids in each condition; clearing it notifies every meter "
        "then in a condition once more."
    ),
)
def meter_alerts_sensor(
    context: SensorEvaluationContext, warehouse: WarehouseResource, alert_webhook: AlertWebhook
) -> SensorResult | SkipReason:
    previous = decode_cursor(context.cursor)
    try:
        with warehouse.connect() as conn:
            current = read_conditions(conn)
    except psycopg.errors.UndefinedTable:
        # A fresh database, or dbt replacing the marts right now: nothing to judge yet, and
        # the cursor stays as it was.
        return SkipReason(
            f"No alerts checked: {MARTS} are not in this database yet "
            "(dbt has not built them, or is rebuilding them now)."
        )
    alerts, state = track_episodes(previous, current)
    sender = notifier(alert_webhook.url, context.log)
    # A failed delivery raises before the cursor moves, so the same alerts go out next tick.
    sender.notify(alerts)
    destination = WEBHOOK_NAME if isinstance(sender, WebhookNotifier) else "the log"
    return SensorResult(
        skip_reason=summary(alerts, state, destination), cursor=encode_cursor(state)
    )
