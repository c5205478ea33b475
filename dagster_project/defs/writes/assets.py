"""The write path asset: after each sync, queued top-up tokens and due tariff changes go to
their meters, each attempt recorded in flows_raw.topup_log and flows_raw.tariff_push_log."""

from datetime import UTC, datetime, timedelta

import psycopg
from dagster import (
    AssetExecutionContext,
    AssetKey,
    AssetSpec,
    Config,
    MaterializeResult,
    MetadataValue,
    multi_asset,
)
from pydantic import Field

from dagster_project.defs.resources import (
    DATABASE_RETRY,
    EmopSettings,
    WarehouseResource,
    database_failure,
)
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.domain.tariff_push import WriteRetryPolicy
from dagster_project.services.write_path import WriteReport, run_write_path
from dagster_project.warehouse.raw_tables import ensure_raw_tables

TARIFF_PUSH_LOG = AssetKey(["flows_raw", "tariff_push_log"])
TOPUP_LOG = AssetKey(["flows_raw", "topup_log"])

# Written by operators through the CLI, not by a Dagster asset: declared so that the graph
# shows where the write path's work comes from.
OPERATOR_INPUTS = [
    AssetSpec(
        key=["flows_raw", "tariff_change_requests"],
        group_name="operator_input",
        kinds={"postgres"},
        description="Scheduled tariff changes, written by `flows tariff set`.",
    ),
    AssetSpec(
        key=["flows_raw", "tariff_change_request_meters"],
        group_name="operator_input",
        kinds={"postgres"},
        description="The meters each tariff change request covers, fixed when it is stored.",
    ),
    AssetSpec(
        key=["flows_raw", "topup_tokens"],
        group_name="operator_input",
        kinds={"postgres"},
        description="Top-up tokens queued by `flows topup`.",
    ),
]


class WritePathConfig(Config):
    max_attempts: int = Field(10, description="Attempts per token or tariff before it is flagged.")
    first_wait_minutes: float = Field(15, description="Wait after a first failed attempt.")
    longest_wait_hours: float = Field(6, description="Longest wait between attempts.")

    def policy(self) -> WriteRetryPolicy:
        return WriteRetryPolicy(
            max_attempts=self.max_attempts,
            first_wait=timedelta(minutes=self.first_wait_minutes),
            longest_wait=timedelta(hours=self.longest_wait_hours),
        )


@multi_asset(
    specs=[
        AssetSpec(
            TARIFF_PUSH_LOG,
            deps=[METER_SYNC_SNAPSHOTS, *(spec.key for spec in OPERATOR_INPUTS[:2])],
            description=(
                "One row per attempt to put a requested tariff on a meter: written, read back, "
                "verified or failed with the reason, retried with backoff, flagged when given up."
            ),
            kinds={"python", "postgres"},
        ),
        AssetSpec(
            TOPUP_LOG,
            deps=[METER_SYNC_SNAPSHOTS, OPERATOR_INPUTS[2].key],
            description=(
                "One row per attempt to send a top-up token; a token credits its meter once."
            ),
            kinds={"python", "postgres"},
        ),
    ],
    name="meter_writes",
    group_name="write_path",
    retry_policy=DATABASE_RETRY,
)
def meter_writes(
    context: AssetExecutionContext,
    config: WritePathConfig,
    warehouse: WarehouseResource,
    emop: EmopSettings,
):  # type: ignore[no-untyped-def]
    try:
        with warehouse.connect() as conn:
            conn.autocommit = True
            ensure_raw_tables(conn)
            report = run_write_path(
                conn,
                emop.client_settings(),
                config.policy(),
                clock=lambda: datetime.now(UTC),
                run_id=context.run_id,
                slots=emop.connection_slots(warehouse, context.run_id),
                say=context.log.info,
            )
    except psycopg.OperationalError as error:
        raise database_failure(warehouse, "run the write path against", error) from error
    if report is None:
        context.log.warning("another write-path run holds the lock: nothing sent by this one")
        report = WriteReport()

    for serial, what, reason in report.problems:
        context.log.warning("meter %s, %s: %s", serial, what, reason)
    tariff_meta = {f"tariffs_{k}": v for k, v in sorted(report.tariff_outcomes.items())}
    token_meta = {f"tokens_{k}": v for k, v in sorted(report.token_outcomes.items())}
    shared = {"flagged": report.flagged, "meters_waiting": len(report.waiting)}
    yield MaterializeResult(
        asset_key=TARIFF_PUSH_LOG,
        metadata={**tariff_meta, **shared, "problems": MetadataValue.md(_problems_md(report))},
    )
    yield MaterializeResult(asset_key=TOPUP_LOG, metadata={**token_meta, **shared})


def _problems_md(report: WriteReport) -> str:
    rows = [*report.problems, *((s, "waiting", why) for s, why in report.waiting.items())]
    if not rows:
        return "No problems."
    lines = ["| meter | what | reason |", "|---|---|---|"]
    lines += [f"| {serial} | {what} | {reason} |" for serial, what, reason in rows]
    return "\n".join(lines)
