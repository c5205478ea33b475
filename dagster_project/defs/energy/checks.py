"""Checks on the energy marts. The queries are in warehouse/energy_health.py, the verdicts in
domain/rules/energy_rules.py; the thresholds in the check_thresholds resource."""

from datetime import UTC, datetime

from dagster import AssetCheckResult, AssetKey, asset_check

from dagster_project.defs.checks.fleet import CheckThresholds, check_result
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.energy_health import uk_day_start, uk_yesterday
from dagster_project.domain.rules import energy_rules
from dagster_project.warehouse import energy_health

REGISTER_INTERVAL_HH = AssetKey(["flows", "register_interval_hh"])
REGISTER_INTERVAL_DAILY = AssetKey(["flows", "register_interval_daily"])
REGISTERS_ZERO_CONSUMPTION = AssetKey(["flows", "registers_zero_consumption"])


def _since_yesterday() -> datetime:
    """Flagged half-hours are looked for from the start of the UK day before today."""
    return uk_day_start(uk_yesterday(datetime.now(UTC)))


@asset_check(
    asset=REGISTER_INTERVAL_DAILY,
    name="completeness_yesterday",
    description=(
        "Yesterday's (UK day) half-hours known, actual or estimated, across every polled "
        "meter's registers: under 98% warns, under 90% is an error."
    ),
)
def completeness_check(
    warehouse: WarehouseResource, check_thresholds: CheckThresholds
) -> AssetCheckResult:
    with warehouse.connect() as conn:
        day = energy_health.day_completeness(conn, uk_yesterday(datetime.now(UTC)))
    return check_result(energy_rules.judge_completeness(day, check_thresholds.thresholds()))


@asset_check(
    asset=REGISTER_INTERVAL_HH,
    name="negative_consumption",
    description="Half-hours since yesterday where a register went backwards (an error).",
)
def negative_consumption_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        flagged = energy_health.flagged_half_hours(conn, _since_yesterday(), "negative_consumption")
    return check_result(energy_rules.judge_negative_consumption(flagged))


@asset_check(
    asset=REGISTER_INTERVAL_HH,
    name="out_of_range",
    description="Half-hours since yesterday above what the meter's supply can carry (warns).",
)
def out_of_range_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        flagged = energy_health.flagged_half_hours(conn, _since_yesterday(), "over_supply_limit")
    return check_result(energy_rules.judge_out_of_range(flagged))


@asset_check(
    asset=REGISTERS_ZERO_CONSUMPTION,
    name="stuck_registers",
    description=(
        "Registers that recorded nothing for a week while their meter answered (warns): a "
        "stuck register or an empty property."
    ),
)
def stuck_registers_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        registers = energy_health.zero_registers(conn)
    return check_result(energy_rules.judge_stuck(registers))
