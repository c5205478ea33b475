"""The one Definitions object of the code location: every asset, check, job, schedule and sensor
found in the defs/ package (one folder per feature), with the resources they share."""

import warnings

from dagster import PreviewWarning, load_definitions_from_package_module

from dagster_project import defs as defs_package
from dagster_project.defs.checks.fleet import CheckThresholds
from dagster_project.defs.resources import EmopSettings, WarehouseResource, dbt_resource

# Loading the package is a preview API, chosen on purpose: its notice would print on every
# command that imports the definitions.
with warnings.catch_warnings():
    warnings.simplefilter("ignore", PreviewWarning)
    defs = load_definitions_from_package_module(
        defs_package,
        resources={
            "warehouse": WarehouseResource(),
            "emop": EmopSettings(),
            "dbt": dbt_resource(),
            "check_thresholds": CheckThresholds(),
        },
    )
