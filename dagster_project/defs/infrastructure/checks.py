"""Checks on the infrastructure marts. The queries are in warehouse/infrastructure_health.py,
the verdicts in domain/rules/infrastructure_rules.py."""

from datetime import UTC, datetime

from dagster import AssetCheckResult, AssetKey, asset_check

from dagster_project.defs.checks.fleet import check_result
from dagster_project.defs.resources import WarehouseResource
from dagster_project.domain.energy_health import uk_day_start, uk_yesterday
from dagster_project.domain.rules import infrastructure_rules
from dagster_project.warehouse import infrastructure_health

METER_REGISTRY = AssetKey(["flows", "meter_registry"])
SERVICE_HEADS = AssetKey(["flows", "service_heads"])
CIRCUIT_REGISTERS = AssetKey(["flows", "circuit_registers"])
FEEDERS = AssetKey(["flows", "feeders"])


@asset_check(
    asset=METER_REGISTRY,
    name="meters_not_placed",
    description=(
        "Meters (deleted ones aside) without an ESCO the infrastructure files know, or without "
        "a service head (warns): they fall out of every grouping by ESCO, site or feeder."
    ),
)
def meters_not_placed_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        meters = infrastructure_health.unplaced_meters(conn)
    return check_result(infrastructure_rules.judge_unplaced(meters))


@asset_check(
    asset=SERVICE_HEADS,
    name="service_head_phases",
    description=(
        "Service heads whose meters take more phases than the head has (an error): a "
        "three-phase meter takes three, a single-phase meter one."
    ),
    additional_deps=[METER_REGISTRY, AssetKey(["flows", "service_head_meters"])],
)
def service_head_phases_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        meters = infrastructure_health.service_head_meters(conn)
    return check_result(infrastructure_rules.judge_service_head_phases(meters))


@asset_check(
    asset=CIRCUIT_REGISTERS,
    name="overlapping_circuit_links",
    description=(
        "A register linked to two circuits over overlapping periods (an error): its energy "
        "would count for both."
    ),
)
def overlapping_circuit_links_check(warehouse: WarehouseResource) -> AssetCheckResult:
    with warehouse.connect() as conn:
        links = infrastructure_health.circuit_links(conn)
    return check_result(infrastructure_rules.judge_circuit_links(links))


@asset_check(
    asset=FEEDERS,
    name="feeder_over_rating",
    description=(
        "Half-hours since yesterday (UK) in which the meters under a feeder imported more than "
        "its rating_kw (warns); feeders without a rating are not judged."
    ),
    additional_deps=[AssetKey(["flows", "register_interval_hh"])],
)
def feeder_over_rating_check(warehouse: WarehouseResource) -> AssetCheckResult:
    since = uk_day_start(uk_yesterday(datetime.now(UTC)))
    with warehouse.connect() as conn:
        half_hours = infrastructure_health.feeder_half_hours_over_rating(conn, since)
    return check_result(infrastructure_rules.judge_feeder_load(half_hours))
