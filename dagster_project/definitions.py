"""The one Definitions object of the code location: every asset, check, job, schedule and sensor
found in the defs/ package (one folder per feature), the ones built from the deployment's
settings (the sync's buckets), and the resources they share.

The settings are read when Dagster loads the code location, not when this module is imported.
"""

import dagster as dg
from dagster import Definitions, load_definitions_from_package_module

from dagster_project import defs as defs_package
from dagster_project.defs.alerts.sensors import AlertWebhook
from dagster_project.defs.checks.fleet import CheckThresholds
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import EmopSettings, WarehouseResource, dbt_resource
from dagster_project.defs.sync.build import build_fleet_sync
from dagster_project.settings import Settings


def build_definitions(settings: Settings) -> Definitions:
    resources = {
        "warehouse": WarehouseResource.from_settings(settings),
        "emop": EmopSettings.from_settings(settings),
        "dbt": dbt_resource(),
        "check_thresholds": CheckThresholds(),
        "registry_source": RegistrySource.from_settings(settings),
        "alert_webhook": AlertWebhook.from_settings(settings),
    }
    # A preview API, chosen on purpose: its notice is silenced in defs/__init__.py.
    found = load_definitions_from_package_module(defs_package)
    return Definitions.merge(
        found, build_fleet_sync(settings).definitions(), Definitions(resources=resources)
    )


@dg.definitions
def defs() -> Definitions:
    return build_definitions(Settings.from_environment())
