"""Checks on the write path: tariff changes and top-up tokens that need a person."""

from datetime import UTC, datetime

from dagster import AssetCheckResult, asset_check

from dagster_project.defs.checks.fleet import check_result
from dagster_project.defs.resources import WarehouseResource
from dagster_project.defs.writes.assets import TARIFF_PUSH_LOG, TOPUP_LOG
from dagster_project.domain.rules import write_rules
from dagster_project.warehouse import write_store


@asset_check(
    asset=TARIFF_PUSH_LOG,
    name="tariff_changes_stuck",
    description=(
        "Tariff changes given up on after repeated failures (error), or past their activation "
        "time without being on their meter (warning: it keeps trying, the meter applies it late)."
    ),
)
def tariff_changes_stuck_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        stuck = write_store.stuck_tariff_changes(conn, datetime.now(UTC))
    return check_result(write_rules.judge_tariff_changes(stuck))


@asset_check(
    asset=TOPUP_LOG,
    name="topups_given_up",
    description="Top-up tokens not credited and no longer retried: the household is waiting.",
)
def topups_given_up_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        flagged = write_store.flagged_tokens(conn)
    return check_result(write_rules.judge_tokens(flagged))


write_checks = [tariff_changes_stuck_check, topups_given_up_check]
