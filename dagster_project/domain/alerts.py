"""Meter alerts: low-balance and offline episodes, their cursor, and the notifiers (no Dagster)."""

from __future__ import annotations

import base64
import binascii
import json
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from http.client import HTTPException
from typing import Any, Literal, Protocol

Condition = Literal["low_balance", "offline"]
CONDITIONS: tuple[Condition, ...] = ("low_balance", "offline")
# Where the URL would appear in a message; it may carry a token, so it is never printed.
WEBHOOK_NAME = "the alert webhook"
CURSOR_VERSION = 1
UUID_BYTES = 16

Detail = str | int | None
Row = Mapping[str, Any]


@dataclass(frozen=True)
class Alert:
    """One meter entering one condition: what an operator is told once per episode."""

    condition: Condition
    meter_id: uuid.UUID
    serial: str
    name: str
    esco: uuid.UUID
    details: Mapping[str, Detail] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "condition": self.condition,
            "meter_id": str(self.meter_id),
            "serial": self.serial,
            "name": self.name,
            "esco": str(self.esco),
            "details": dict(self.details),
        }

    def describe(self) -> str:
        """One line for a log: the condition, the meter and why."""
        meter = f"{self.serial} {self.name!r} (meter {self.meter_id}, esco {self.esco})"
        if self.condition == "low_balance":
            why = (
                f"balance £{self.details.get('balance')}, emergency credit "
                f"£{self.details.get('emergency_credit')}, read at "
                f"{self.details.get('balance_updated_at')}"
            )
            return f"low balance: {meter}: {why}"
        last_online = self.details.get("last_online")
        if last_online is None:
            return f"offline: {meter}: never reached"
        minutes = self.details.get("minutes_offline")
        return f"offline: {meter}: last online {last_online} ({minutes} minutes ago)"


@dataclass(frozen=True)
class EpisodeState:
    """The meters in each condition at the last evaluation: their episodes are already notified."""

    low_balance: frozenset[uuid.UUID] = frozenset()
    offline: frozenset[uuid.UUID] = frozenset()

    def ids(self, condition: Condition) -> frozenset[uuid.UUID]:
        return self.low_balance if condition == "low_balance" else self.offline


def _iso(moment: datetime | None) -> str | None:
    return moment.isoformat() if moment is not None else None


def _money(amount: Decimal | None) -> str | None:
    # A string, not a float: JSON numbers would round pence.
    return str(amount) if amount is not None else None


def alert_details(condition: Condition, row: Row) -> dict[str, Detail]:
    """The condition's own columns of a mart row, as JSON-ready values."""
    if condition == "low_balance":
        return {
            "balance": _money(row["balance"]),
            "emergency_credit": _money(row["emergency_credit"]),
            "balance_updated_at": _iso(row["balance_updated_at"]),
        }
    return {"last_online": _iso(row["last_online"]), "minutes_offline": row["minutes_offline"]}


def alert_from_row(condition: Condition, row: Row) -> Alert:
    return Alert(
        condition=condition,
        meter_id=row["id"],
        serial=row["serial"],
        name=row["name"],
        esco=row["esco"],
        details=alert_details(condition, row),
    )


def track_episodes(
    previous: EpisodeState, current: Mapping[Condition, Iterable[Row]]
) -> tuple[list[Alert], EpisodeState]:
    """The alerts for meters that entered a condition since `previous`, and the state to keep.

    A meter still in a condition was notified when its episode began; one that left is dropped
    from the state, so a later return is a new episode. Every condition must be in `current`:
    a missing one would silently end all its episodes.
    """
    alerts: list[Alert] = []
    ids: dict[Condition, frozenset[uuid.UUID]] = {}
    for condition in CONDITIONS:
        rows = {row["id"]: row for row in current[condition]}
        entered = sorted(
            (rows[meter_id] for meter_id in rows.keys() - previous.ids(condition)),
            key=lambda row: (row["serial"], row["id"]),
        )
        alerts.extend(alert_from_row(condition, row) for row in entered)
        ids[condition] = frozenset(rows)
    return alerts, EpisodeState(low_balance=ids["low_balance"], offline=ids["offline"])


class InvalidCursorError(ValueError):
    """The sensor's cursor is not one this module wrote."""


def _pack_ids(ids: Iterable[uuid.UUID]) -> str:
    # 16 bytes per id, sorted so equal sets give equal cursors: ~21 characters an id, not ~39.
    return base64.b64encode(b"".join(meter_id.bytes for meter_id in sorted(ids))).decode("ascii")


def _unpack_ids(packed: object) -> frozenset[uuid.UUID]:
    if not isinstance(packed, str):
        raise InvalidCursorError("meter ids are not a string")
    raw = base64.b64decode(packed, validate=True)
    if len(raw) % UUID_BYTES:
        raise InvalidCursorError("meter ids are not whole UUIDs")
    return frozenset(
        uuid.UUID(bytes=raw[start : start + UUID_BYTES]) for start in range(0, len(raw), UUID_BYTES)
    )


def encode_cursor(state: EpisodeState) -> str:
    """A compact JSON cursor: per condition, the base64 of the sorted 16-byte meter ids."""
    body: dict[str, Any] = {"v": CURSOR_VERSION}
    body.update({condition: _pack_ids(state.ids(condition)) for condition in CONDITIONS})
    return json.dumps(body, separators=(",", ":"))


def decode_cursor(cursor: str | None) -> EpisodeState:
    """The state a cursor holds; no cursor yet means no episode has been notified."""
    if not cursor:
        return EpisodeState()
    try:
        body = json.loads(cursor)
        if not isinstance(body, dict) or body.get("v") != CURSOR_VERSION:
            raise InvalidCursorError(f"not a version {CURSOR_VERSION} cursor")
        ids = {condition: _unpack_ids(body[condition]) for condition in CONDITIONS}
    except (ValueError, KeyError, binascii.Error) as error:
        # Guessing would either lose alerts or repeat every one, so an operator decides.
        raise InvalidCursorError(
            f"the meter alerts cursor cannot be read ({error}); clear it to start over, "
            "and every meter then in a condition is notified once"
        ) from None
    return EpisodeState(low_balance=ids["low_balance"], offline=ids["offline"])


class Notifier(Protocol):
    """Delivers a batch of alerts, or raises so the batch is retried."""

    def notify(self, alerts: list[Alert]) -> None: ...


class AlertLogger(Protocol):
    def warning(self, msg: str) -> None: ...


@dataclass(frozen=True)
class LogNotifier:
    """Writes one warning line per alert to a logger (the sensor's context.log)."""

    logger: AlertLogger

    def notify(self, alerts: list[Alert]) -> None:
        for alert in alerts:
            self.logger.warning(alert.describe())


class AlertDeliveryError(RuntimeError):
    """The alert webhook did not take the batch; nothing in the message names its URL."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would turn a redirected POST into a GET without the body and report success.
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


def webhook_payload(alerts: Sequence[Alert]) -> bytes:
    """The JSON body: the alerts, and a text summary chat webhooks can show as it is."""
    body = {
        "text": "\n".join(alert.describe() for alert in alerts),
        "alerts": [alert.to_json() for alert in alerts],
    }
    return json.dumps(body).encode("utf-8")


def _reason(error: BaseException) -> str:
    # Exception text can quote the URL (a bad port, an unknown scheme), so only its kind and
    # the operating system's words are kept.
    reason = getattr(error, "reason", error)
    strerror = getattr(reason, "strerror", None)
    kind = type(reason).__name__ if isinstance(reason, BaseException) else type(error).__name__
    return f"{kind}: {strerror}" if strerror else kind


@dataclass(frozen=True)
class WebhookNotifier:
    """POSTs each batch as one JSON document; raises AlertDeliveryError unless answered 2xx."""

    url: str = field(repr=False)
    timeout_seconds: float = 10.0

    def __post_init__(self) -> None:
        if not self.url.lower().startswith(("http://", "https://")):
            raise AlertDeliveryError(f"{WEBHOOK_NAME} URL must start with http:// or https://")

    def notify(self, alerts: list[Alert]) -> None:
        if not alerts:
            return
        request = urllib.request.Request(
            self.url,
            data=webhook_payload(alerts),
            headers={"Content-Type": "application/json", "User-Agent": "flows-meter-alerts"},
            method="POST",
        )
        opener = urllib.request.build_opener(_NoRedirects)
        try:
            with opener.open(request, timeout=self.timeout_seconds) as response:
                status = response.status
                response.read()
        except urllib.error.HTTPError as error:
            status = error.code
            error.close()
        except (OSError, ValueError, HTTPException) as error:
            raise AlertDeliveryError(
                f"{WEBHOOK_NAME} could not be reached ({_reason(error)}); "
                f"{len(alerts)} alerts will be retried on the next evaluation"
            ) from None
        if not 200 <= status < 300:
            raise AlertDeliveryError(
                f"{WEBHOOK_NAME} answered HTTP {status}; "
                f"{len(alerts)} alerts will be retried on the next evaluation"
            )


def notifier(webhook_url: str | None, logger: AlertLogger) -> Notifier:
    """The webhook when one is configured (FLOWS_ALERT_WEBHOOK_URL), else the log."""
    url = (webhook_url or "").strip()
    return WebhookNotifier(url) if url else LogNotifier(logger)
