"""What a `flows run` reports, read from the warehouse: the registry, the run's syncs and writes,
and the marts' counts as the run left them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal

import psycopg

from dagster_project.domain.energy_health import uk_yesterday
from dagster_project.warehouse.energy_health import day_completeness
from dagster_project.warehouse.sync_verdicts import held_back


@dataclass(frozen=True, kw_only=True)
class RunFigures:
    registry_rows: int
    rejected_rows: int
    meters_ok: int
    meters_failed: int
    meters_skipped: int
    low_balance: int
    offline: int
    #: Write-path attempts of the run's runs, by outcome.
    tariff_pushes: dict[str, int] = field(default_factory=dict)
    token_sends: dict[str, int] = field(default_factory=dict)
    #: Syncs the marts leave out (of any run): awaiting the raw checks' verdict, or failed it.
    syncs_awaiting: int = 0
    syncs_failed: int = 0
    #: Yesterday (UK day): the fleet's import, and the share of its half-hours known.
    energy_day: date | None = None
    energy_import_kwh: Decimal = Decimal(0)
    energy_known_share: float = 0.0


def run_figures(conn: psycopg.Connection, run_ids: list[str]) -> RunFigures:
    row = conn.execute(
        """
        with run_syncs as (  -- one per bucket
            select meters_ok, meters_failed, meters_skipped
            from flows_raw.meter_syncs where run_id = any(%(run_ids)s)
        )
        select
            (select count(*) from flows_raw.meter_registry),
            (select count(distinct row_number) from flows_raw.meter_registry_rejects),
            coalesce((select sum(meters_ok)::int from run_syncs), 0),
            coalesce((select sum(meters_failed)::int from run_syncs), 0),
            coalesce((select sum(meters_skipped)::int from run_syncs), 0),
            (select count(*) from flows.meters_low_balance),
            (select count(*) from flows.meters_offline_all)
        """,
        {"run_ids": run_ids},
    ).fetchone()
    assert row is not None  # an aggregate query always returns its row
    pushes, sends = (
        dict(
            conn.execute(
                f"select outcome, count(*) from flows_raw.{table} "
                "where run_id = any(%s) group by outcome",
                (run_ids,),
            ).fetchall()
        )
        for table in ("tariff_push_log", "topup_log")
    )
    awaiting, failed = held_back(conn)
    energy_day = uk_yesterday(datetime.now(UTC))
    imported = conn.execute(
        "select coalesce(sum(import_kwh), 0) from flows.meter_consumption_daily where date = %s",
        (energy_day,),
    ).fetchone()
    registry_rows, rejected_rows, meters_ok, meters_failed, meters_skipped, low, offline = row
    return RunFigures(
        registry_rows=registry_rows,
        rejected_rows=rejected_rows,
        meters_ok=meters_ok,
        meters_failed=meters_failed,
        meters_skipped=meters_skipped,
        low_balance=low,
        offline=offline,
        tariff_pushes=pushes,
        token_sends=sends,
        syncs_awaiting=awaiting,
        syncs_failed=failed,
        energy_day=energy_day,
        energy_import_kwh=imported[0] if imported else Decimal(0),
        energy_known_share=day_completeness(conn, energy_day).share,
    )
