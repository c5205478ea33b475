"""Dagster wiring, one folder per feature (registry, sync, meter_logs, writes, checks, alerts,
retention, dbt), each holding its assets, checks, jobs, schedules and sensors; resources.py is
shared. definitions.py loads every object found here: adding one needs no list edited.

The framework's notices about APIs the project has chosen to use are silenced here, each by
name, so that they do not print on every command that loads the definitions:
- `load_definitions_from_package_module` (preview): how definitions.py finds the features;
- `backfill_policy` of `asset` (beta): one run reads a range of the sync's buckets;
- `build_last_update_freshness_checks` / `build_sensor_for_freshness_checks` (superseded by
  FreshnessPolicy, which does not yet give a check per asset with its own severity).
"""

import warnings

from dagster import BetaWarning, PreviewWarning, SupersessionWarning

warnings.filterwarnings(
    "ignore",
    message=r"Function `load_definitions_from_(package_module|modules)`",
    category=PreviewWarning,
)
warnings.filterwarnings("ignore", message=r"Parameter `backfill_policy`", category=BetaWarning)
warnings.filterwarnings(
    "ignore",
    message=r"Function `build_(last_update_freshness_checks|sensor_for_freshness_checks)`",
    category=SupersessionWarning,
)
