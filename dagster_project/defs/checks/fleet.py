"""Fleet-health asset checks on the marts and the sync, and freshness of both.

Thresholds live in one resource (`check_thresholds`), editable in the launchpad; the rules are in
domain/rules/fleet_rules.py, the queries in warehouse/fleet_health.py.
"""

from datetime import timedelta

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetsDefinition,
    ConfigurableResource,
    DefaultSensorStatus,
    MetadataValue,
    SensorDefinition,
    asset_check,
    build_last_update_freshness_checks,
    build_sensor_for_freshness_checks,
)
from pydantic import create_model

from dagster_project.defs.resources import WarehouseResource, settings_fields
from dagster_project.defs.sync.assets import METER_SYNC_SNAPSHOTS
from dagster_project.domain.rules import fleet_rules
from dagster_project.domain.rules.fleet_rules import Thresholds, Verdict
from dagster_project.warehouse import fleet_health
from dagster_project.warehouse.dbt_vars import mart_thresholds
from dagster_project.warehouse.identity_store import unresolved_mismatches
from dagster_project.warehouse.sync_store import syncs_to_check

METER_SHADOWS = AssetKey(["flows", "meter_shadows"])
METER_REGISTRY = AssetKey(["flows", "meter_registry"])
METER_CSQ = AssetKey(["flows", "meter_csq"])
METER_PREPAY_BALANCE = AssetKey(["flows", "meter_prepay_balance"])
SYNC_CYCLE = timedelta(minutes=15)

_DEFAULTS = Thresholds(clock_drift_warn_seconds=mart_thresholds().clock_drift_seconds)


class _CheckThresholdsBase(ConfigurableResource):
    def thresholds(self) -> Thresholds:
        return Thresholds(**self.model_dump())


#: Where the fleet-health checks draw the line: the domain's Thresholds, editable in the
#: launchpad, defaulting to the dbt vars' clock-drift line and the domain's other defaults.
CheckThresholds = create_model(
    "CheckThresholds",
    __base__=_CheckThresholdsBase,
    __module__=__name__,
    __doc__="Where the fleet-health checks draw the line.",
    **settings_fields(Thresholds, defaults=_DEFAULTS),
)


def check_result(verdict: Verdict) -> AssetCheckResult:
    return AssetCheckResult(
        passed=verdict.passed,
        severity=AssetCheckSeverity(verdict.severity),
        description=verdict.summary,
        metadata={
            "summary": verdict.summary,
            "meters": MetadataValue.md(verdict.meters_markdown()),
            **verdict.counts,
        },
    )


@asset_check(
    asset=METER_SHADOWS,
    name="clock_drift",
    description="Meter clocks 60 s or more out warn, over 300 s is an error (either way).",
)
def clock_drift_check(
    warehouse: WarehouseResource, check_thresholds: CheckThresholds
) -> AssetCheckResult:
    thresholds = check_thresholds.thresholds()
    with warehouse.connect() as conn:
        drifts = fleet_health.clock_drifts(conn, thresholds.clock_drift_warn_seconds)
    return check_result(fleet_rules.judge_clock_drift(drifts, thresholds))


@asset_check(
    asset=METER_CSQ,
    name="csq_drops",
    description="Meters whose CSQ is under 10, or 8 or more below their own 7-day median.",
)
def csq_drop_check(
    warehouse: WarehouseResource, check_thresholds: CheckThresholds
) -> AssetCheckResult:
    thresholds = check_thresholds.thresholds()
    with warehouse.connect() as conn:
        drops = fleet_health.signal_drops(
            conn, thresholds.csq_floor, thresholds.csq_drop, thresholds.csq_median_days
        )
    return check_result(fleet_rules.judge_signal(drops, thresholds))


@asset_check(
    asset=METER_SYNC_SNAPSHOTS,
    name="fleet_outage",
    description="The share of active meters failing in the sync stays under 20%.",
)
def fleet_outage_check(
    context: AssetCheckExecutionContext,
    warehouse: WarehouseResource,
    check_thresholds: CheckThresholds,
) -> AssetCheckResult:
    with warehouse.connect() as conn:
        # The syncs this run landed; run alone, the check looks at the latest run's.
        sync_ids, _ = syncs_to_check(conn, context.run.run_id)
        outcome = fleet_health.sync_outcome(conn, sync_ids) if sync_ids else None
    return check_result(fleet_rules.judge_outage(outcome, check_thresholds.thresholds()))


@asset_check(
    asset=METER_PREPAY_BALANCE,
    name="balance_anomalies",
    description=(
        "Balance rises the meter's event log shows no top-up for, and balances below minus "
        "the emergency credit."
    ),
)
def balance_anomaly_check(
    warehouse: WarehouseResource, check_thresholds: CheckThresholds
) -> AssetCheckResult:
    thresholds = check_thresholds.thresholds()
    with warehouse.connect() as conn:
        rises = fleet_health.balance_rises(
            conn, thresholds.balance_lookback_days, thresholds.top_up_match_minutes
        )
        below_floor = fleet_health.balances_below_floor(conn)
    return check_result(fleet_rules.judge_balances(rises, below_floor))


@asset_check(
    asset=METER_REGISTRY,
    name="registry_meter_disagreements",
    description=(
        "Meters whose registry file sets prepayment or daylight saving correction one way "
        "while the meter reports the other (warn)."
    ),
)
def registry_meter_disagreement_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        disagreements = fleet_health.flag_disagreements(conn)
    return check_result(fleet_rules.judge_flag_disagreements(disagreements))


@asset_check(
    asset=METER_SYNC_SNAPSHOTS,
    name="identity_mismatches",
    description=(
        "Meters whose registered address answers with another serial (a swapped SIM, a "
        "reassigned address): error until an operator resolves each (`flows identity`)."
    ),
)
def identity_mismatch_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        mismatches = unresolved_mismatches(conn)
    return check_result(fleet_rules.judge_identity(mismatches))


fleet_health_checks = [
    clock_drift_check,
    csq_drop_check,
    fleet_outage_check,
    balance_anomaly_check,
    registry_meter_disagreement_check,
    identity_mismatch_check,
]


def freshness_checks(dbt_models: AssetsDefinition) -> list:
    """Stale when nothing has been synced (or built) for two sync cycles."""
    return list(
        build_last_update_freshness_checks(
            assets=[METER_SYNC_SNAPSHOTS, dbt_models],
            lower_bound_delta=2 * SYNC_CYCLE,
            severity=AssetCheckSeverity.WARN,
        )
    )


def freshness_sensor(checks: list) -> SensorDefinition:
    return build_sensor_for_freshness_checks(
        freshness_checks=checks,
        name="freshness_checks",
        minimum_interval_seconds=300,
        default_status=DefaultSensorStatus.RUNNING,
    )
