"""Every `FLOWS_*` setting: read from the environment once, validated, and passed down.

The entry points (the `flows` command, the Dagster code location) call `Settings.from_environment`
once and hand the result to what they build; nothing below them reads the environment. A bad
value stops the command with the variable named, before anything runs.

`VARIABLES` lists every setting with its default and meaning: the README's table and the
deployment files are checked against it.
"""

from __future__ import annotations

import dataclasses
import os
import re
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TypeVar

from dagster_project.domain.fleet_buckets import DEFAULT_BUCKETS, MAX_BUCKETS
from dagster_project.domain.registry import DEFAULT_MAX_REMOVED_SHARE
from dagster_project.emop.client import ClientSettings
from dagster_project.paths import PROJECT_ROOT

STATE_DIR = "FLOWS_STATE_DIR"
DATABASE_URL = "FLOWS_DATABASE_URL"
REGISTRY_CSV = "FLOWS_REGISTRY_CSV"
REGISTRY_MAX_REMOVED_SHARE = "FLOWS_REGISTRY_MAX_REMOVED_SHARE"
INFRASTRUCTURE_DIR = "FLOWS_INFRASTRUCTURE_DIR"
SYNC_BUCKETS = "FLOWS_SYNC_BUCKETS"
SYNC_FAN_OUT = "FLOWS_SYNC_FAN_OUT"
ALERT_WEBHOOK_URL = "FLOWS_ALERT_WEBHOOK_URL"
#: `FLOWS_EMOP_<SETTING>` (e.g. FLOWS_EMOP_MIN_GAP_SECONDS=0.2) sets one of ClientSettings.
EMOP_PREFIX = "FLOWS_EMOP_"
MAX_CONNECTIONS_PER_ESCO = EMOP_PREFIX + "MAX_CONNECTIONS_PER_ESCO"

DEFAULT_STATE_DIR = PROJECT_ROOT / ".flows"
_TRUE = {"1", "true", "yes", "on"}
#: ASCII digits only: int() would also take "١٦", "1_000" and " 16".
_WHOLE = re.compile(r"-?[0-9]+", re.ASCII)
_FALSE = {"", "0", "false", "no", "off"}


@dataclass(frozen=True)
class Variable:
    """One setting as an operator sees it: its name, its default and what it does."""

    name: str
    default: str
    meaning: str
    secret: bool = False


class SettingsError(ValueError):
    """A setting that cannot be used; the message names the variable and its value."""


@dataclass(frozen=True)
class Settings:
    """The deployment's choices. Secrets are left out of the repr, so a logged Settings is safe."""

    state_dir: Path = DEFAULT_STATE_DIR
    database_url: str | None = field(default=None, repr=False)
    #: None: the demo fleet's registry shipped with the package.
    registry_csv: Path | None = None
    registry_max_removed_share: float = DEFAULT_MAX_REMOVED_SHARE
    #: None: the registry file's directory.
    infrastructure_dir: Path | None = None
    sync_buckets: int = DEFAULT_BUCKETS
    sync_fan_out: bool = False
    emop: ClientSettings = field(default_factory=ClientSettings)
    max_connections_per_esco: int | None = None
    alert_webhook_url: str | None = field(default=None, repr=False)

    @classmethod
    def from_environment(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        read = _Reader(env)
        return cls(
            state_dir=read(STATE_DIR, Path, DEFAULT_STATE_DIR).resolve(),
            database_url=read(DATABASE_URL, _postgres_url, None),
            registry_csv=read(REGISTRY_CSV, Path, None),
            registry_max_removed_share=read(
                REGISTRY_MAX_REMOVED_SHARE, _share, DEFAULT_MAX_REMOVED_SHARE
            ),
            infrastructure_dir=read(INFRASTRUCTURE_DIR, Path, None),
            sync_buckets=read(SYNC_BUCKETS, _whole(1, MAX_BUCKETS), DEFAULT_BUCKETS),
            sync_fan_out=read(SYNC_FAN_OUT, _flag, False),
            emop=_client_settings(read),
            max_connections_per_esco=read(MAX_CONNECTIONS_PER_ESCO, _whole(1, None), None),
            alert_webhook_url=read(ALERT_WEBHOOK_URL, _web_url, None),
        )


def _shown(default: object) -> str:
    """A default as it is written in the environment."""
    if isinstance(default, bool):
        return "on" if default else "off"
    return str(default)


VARIABLES: tuple[Variable, ...] = (
    Variable(
        STATE_DIR, "`.flows/` in the checkout", "Local state: embedded database, Dagster home."
    ),
    Variable(
        DATABASE_URL,
        "empty: the embedded server",
        "PostgreSQL URL of an existing server (a secret: it carries the password).",
        secret=True,
    ),
    Variable(REGISTRY_CSV, "the demo fleet", "The meter registry file the registry asset loads."),
    Variable(
        REGISTRY_MAX_REMOVED_SHARE,
        str(DEFAULT_MAX_REMOVED_SHARE),
        "Largest share of the active fleet one registry file may remove (1 allows any).",
    ),
    Variable(
        INFRASTRUCTURE_DIR,
        "the registry file's directory",
        "Where the infrastructure files (escos.csv, sites.csv, ..., circuit_registers.csv) are.",
    ),
    Variable(
        SYNC_BUCKETS,
        str(DEFAULT_BUCKETS),
        f"Hash buckets the fleet sync is split into (1-{MAX_BUCKETS}).",
    ),
    Variable(
        SYNC_FAN_OUT,
        "off",
        "On (1/true/yes): one sync run per bucket is scheduled instead of one for all.",
    ),
    Variable(
        ALERT_WEBHOOK_URL,
        "empty: alerts go to the log",
        "Where meter alerts are posted (a secret: it may carry a token).",
        secret=True,
    ),
    Variable(
        MAX_CONNECTIONS_PER_ESCO,
        "empty: not capped",
        "Simultaneous connections to the meters of an ESCO without a limit of its own.",
    ),
    *(
        Variable(
            EMOP_PREFIX + item.name.upper(),
            _shown(item.default),
            str(item.metadata.get("doc", "")),
        )
        for item in dataclasses.fields(ClientSettings)
    ),
)

T = TypeVar("T")


class _Reader:
    """Reads one variable: empty counts as unset; a bad value raises naming it."""

    def __init__(self, environ: Mapping[str, str]) -> None:
        self.environ = environ

    def __call__(self, name: str, parse: Callable[[str], T], default: T) -> T:
        raw = self.environ.get(name, "").strip()
        if not raw:
            return default
        try:
            return parse(raw)
        except ValueError as error:
            shown = "(hidden)" if name in _SECRETS else repr(raw)
            raise SettingsError(f"{name}={shown}: {error}") from None


def _client_settings(read: _Reader) -> ClientSettings:
    hints = typing.get_type_hints(ClientSettings)
    parsers: dict[type, Callable[[str], object]] = {
        bool: _flag,
        int: _whole(None, None),
        float: _number,
    }
    values = {
        item.name: read(EMOP_PREFIX + item.name.upper(), parsers[hints[item.name]], item.default)
        for item in dataclasses.fields(ClientSettings)
    }
    try:
        return ClientSettings(**values)
    except ValueError as error:
        raise SettingsError(f"{EMOP_PREFIX}* settings: {error}") from None


def _flag(raw: str) -> bool:
    value = raw.lower()
    if value in _TRUE:
        return True
    if value in _FALSE:
        return False
    raise ValueError("is not a yes/no value (1, true, yes, on or 0, false, no, off)")


def _whole(low: int | None, high: int | None) -> Callable[[str], int]:
    def parse(raw: str) -> int:
        if not _WHOLE.fullmatch(raw):
            raise ValueError("is not a whole number")
        value = int(raw)
        if (low is not None and value < low) or (high is not None and value > high):
            bounds = f"{low if low is not None else '…'}..{high if high is not None else '…'}"
            raise ValueError(f"is outside {bounds}")
        return value

    return parse


def _number(raw: str) -> float:
    try:
        value = float(raw)
    except ValueError:
        raise ValueError("is not a number") from None
    if value != value or value in (float("inf"), float("-inf")):
        raise ValueError("is not a finite number")
    return value


def _share(raw: str) -> float:
    value = _number(raw)
    if not 0.0 <= value <= 1.0:
        raise ValueError("is not a share between 0 and 1 (e.g. 0.1)")
    return value


def _postgres_url(raw: str) -> str:
    scheme = raw.split("://", 1)[0].split("+", 1)[0] if "://" in raw else ""
    if scheme not in ("postgresql", "postgres"):
        raise ValueError("is not a postgresql:// URL")
    return raw


def _web_url(raw: str) -> str:
    if not raw.startswith(("http://", "https://")):
        raise ValueError("is not an http(s):// URL")
    return raw


_SECRETS = {DATABASE_URL, ALERT_WEBHOOK_URL}
