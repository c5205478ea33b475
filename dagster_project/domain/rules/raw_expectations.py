"""Great Expectations suites over one sync's raw snapshot rows, validated into plain results.

Two suites: `raw_snapshots_structure` (rows the marts must not be built from) and
`raw_snapshots_plausible` (values worth a look). Every rule is a built-in GE expectation; where
GE has none (tariff JSON shape, "not in the future" against the clock, an ok row's balance), a
boolean column is computed in pandas first and GE expects it to be true. Each failed
expectation names its rows: the count, and a sample of serial, column and value.
"""

from __future__ import annotations

import functools
import json
import math
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import pandas as pd

from dagster_project.domain import registry
from dagster_project.emop.tariffs import TARIFF_MONEY_FIELDS

if TYPE_CHECKING:
    from great_expectations.core.batch_definition import BatchDefinition
    from great_expectations.core.expectation_suite import ExpectationSuite

STRUCTURE_SUITE = "raw_snapshots_structure"
PLAUSIBILITY_SUITE = "raw_snapshots_plausible"

#: The snapshot columns the suites read between them (`columns_read` gives one suite's).
SNAPSHOT_COLUMNS = (
    "meter_id",
    "serial",
    "polled_at",
    "finished_at",
    "outcome",
    "error_class",
    "balance",
    "csq",
    "voltage",
    "tariffs_active",
    "tariffs_future",
)

# The registry's serial forms, single- and three-phase (three-phase meters land as skipped).
SERIAL_PATTERN = f"^(?:{registry.SERIAL_PATTERN.pattern})$"
CSQ_RANGE = (0, 31)
#: The polling hosts' clocks and this one may disagree a little; beyond this a time is wrong.
CLOCK_SKEW_TOLERANCE = timedelta(minutes=5)
OUTCOMES = ("ok", "partial", "failed", "skipped")
TARIFF_MONEY_KEYS = TARIFF_MONEY_FIELDS
ACTIVATION_KEY = "activation_datetime"
MAX_FAILED_SHARE = 0.2
BALANCE_RANGE_GBP = (-500, 5000)
VOLTAGE_RANGE = (180, 280)
#: Offending rows named per failed expectation; the count always covers all of them.
SAMPLE_SIZE = 20
MAX_VALUE_CHARS = 200

#: Where each GE expectation carries the name of its rule, to map results back.
_RULE_META = "flows_rule"
_IS_TRUE = {"value_set": [True]}
#: SUMMARY: counts, and the row positions of the first offending rows (GE's "partial" list).
_RESULT_FORMAT = {"result_format": "SUMMARY", "partial_unexpected_count": SAMPLE_SIZE}
#: JSON numbers as psycopg loads them, and Decimal for rows built in Python.
_AMOUNT_TYPES = frozenset({int, float, Decimal})


@dataclass(frozen=True)
class Rule:
    """One expectation: the GE class and the prepared column it reads, and what operators see."""

    name: str
    description: str
    #: Class name in great_expectations.expectations.
    expectation: str
    #: Column of the prepared frame (see `prepare`) the expectation reads.
    column: str
    #: Snapshot column whose value the sample of offending rows shows.
    reported: str
    params: Mapping[str, Any] = field(default_factory=dict)


STRUCTURE_RULES: tuple[Rule, ...] = (
    Rule(
        "serial_format",
        "serial is EML and 10 digits",
        "ExpectColumnValuesToMatchRegex",
        "serial",
        "serial",
        {"regex": SERIAL_PATTERN},
    ),
    Rule(
        "csq_in_range",
        f"csq, when read, is between {CSQ_RANGE[0]} and {CSQ_RANGE[1]}",
        "ExpectColumnValuesToBeBetween",
        "csq",
        "csq",
        {"min_value": CSQ_RANGE[0], "max_value": CSQ_RANGE[1]},
    ),
    Rule(
        "polled_at_not_in_future",
        f"polled_at is not in the future (tolerance {CLOCK_SKEW_TOLERANCE})",
        "ExpectColumnValuesToBeInSet",
        "polled_at_not_in_future",
        "polled_at",
        _IS_TRUE,
    ),
    Rule(
        "finished_at_not_in_future",
        f"finished_at is not in the future (tolerance {CLOCK_SKEW_TOLERANCE})",
        "ExpectColumnValuesToBeInSet",
        "finished_at_not_in_future",
        "finished_at",
        _IS_TRUE,
    ),
    Rule(
        "tariffs_active_shape",
        "tariffs_active, when read, has the six tariff keys with numeric values",
        "ExpectColumnValuesToBeInSet",
        "tariffs_active_valid",
        "tariffs_active",
        _IS_TRUE,
    ),
    Rule(
        "tariffs_future_shape",
        "tariffs_future, when read, has the six tariff keys with numeric values "
        "and an ISO activation_datetime",
        "ExpectColumnValuesToBeInSet",
        "tariffs_future_valid",
        "tariffs_future",
        _IS_TRUE,
    ),
    Rule(
        "one_row_per_meter",
        "meter_id is unique within the sync",
        "ExpectColumnValuesToBeUnique",
        "meter_id",
        "meter_id",
    ),
    Rule(
        # The registry a sync polls has unique serials, so two rows with one serial are one
        # meter twice even under two ids (the table's primary key already forbids a repeated id).
        "one_row_per_serial",
        "serial is unique within the sync",
        "ExpectColumnValuesToBeUnique",
        "serial",
        "serial",
    ),
    Rule(
        "outcome_known",
        "outcome is ok, failed or skipped",
        "ExpectColumnValuesToBeInSet",
        "outcome",
        "outcome",
        {"value_set": list(OUTCOMES)},
    ),
    Rule(
        "ok_row_has_balance",
        "a row with outcome ok has a balance",
        "ExpectColumnValuesToBeInSet",
        "ok_has_balance",
        "balance",
        _IS_TRUE,
    ),
)

PLAUSIBILITY_RULES: tuple[Rule, ...] = (
    Rule(
        "failed_share",
        f"at most {MAX_FAILED_SHARE:.0%} of the polled meters failed",
        "ExpectColumnValuesToNotBeInSet",
        # Skipped (passive) meters are null here: GE's `mostly` then counts polled rows only.
        "polled_outcome",
        "error_class",
        {"value_set": ["failed"], "mostly": 1 - MAX_FAILED_SHARE},
    ),
    Rule(
        "balance_plausible",
        f"balance, when read, is between {BALANCE_RANGE_GBP[0]} and {BALANCE_RANGE_GBP[1]} GBP",
        "ExpectColumnValuesToBeBetween",
        "balance",
        "balance",
        {"min_value": BALANCE_RANGE_GBP[0], "max_value": BALANCE_RANGE_GBP[1]},
    ),
    Rule(
        "voltage_plausible",
        f"voltage, when read, is between {VOLTAGE_RANGE[0]} and {VOLTAGE_RANGE[1]} V",
        "ExpectColumnValuesToBeBetween",
        "voltage",
        "voltage",
        {"min_value": VOLTAGE_RANGE[0], "max_value": VOLTAGE_RANGE[1]},
    ),
)

SUITES: dict[str, tuple[Rule, ...]] = {
    STRUCTURE_SUITE: STRUCTURE_RULES,
    PLAUSIBILITY_SUITE: PLAUSIBILITY_RULES,
}

#: How much a failed suite weighs: the marts do not read a sync that failed an `error` suite
#: (nor one still awaiting its verdict); a `warn` suite only reports.
SUITE_SEVERITY: dict[str, str] = {
    STRUCTURE_SUITE: "error",
    PLAUSIBILITY_SUITE: "warn",
}


@dataclass(frozen=True)
class BadValue:
    """One offending row: which meter, and the value of the column the rule is about."""

    serial: str
    column: str
    value: str


@dataclass(frozen=True)
class ExpectationResult:
    name: str
    #: GE's name of the expectation, e.g. expect_column_values_to_match_regex.
    expectation_type: str
    description: str
    passed: bool
    unexpected_count: int
    #: Up to SAMPLE_SIZE offending rows; empty when the expectation passed.
    sample: tuple[BadValue, ...] = ()
    #: Set when GE could not evaluate the expectation at all (which counts as failed).
    error: str | None = None


@dataclass(frozen=True)
class SuiteResult:
    suite: str
    rows: int
    results: tuple[ExpectationResult, ...]
    seconds: float = 0.0

    @property
    def passed(self) -> bool:
        return all(result.passed for result in self.results)

    @property
    def failures(self) -> tuple[ExpectationResult, ...]:
        return tuple(result for result in self.results if not result.passed)

    def result(self, name: str) -> ExpectationResult:
        return next(result for result in self.results if result.name == name)

    def summary(self) -> str:
        if self.passed:
            return f"all {len(self.results)} expectations passed on {self.rows} rows"
        failed = ", ".join(
            f"{r.name} ({r.error or _rows(r.unexpected_count)})" for r in self.failures
        )
        return (
            f"{len(self.failures)} of {len(self.results)} expectations failed "
            f"on {self.rows} rows: {failed}"
        )


def validate(frame: pd.DataFrame, suite: str, now: datetime) -> SuiteResult:
    """Validate one sync's snapshot rows (`columns_read(suite)` at least) against a suite."""
    started = time.perf_counter()
    frame = frame.reset_index(drop=True)  # GE reports row positions; samples look them up
    batch_definition, gx_suite = _gx_suites()[suite]
    rules = SUITES[suite]
    prepared = prepare(frame, now, columns=[rule.column for rule in rules])
    batch = batch_definition.get_batch(batch_parameters={"dataframe": prepared})
    validation = batch.validate(gx_suite, result_format=_RESULT_FORMAT)
    by_rule = {result.expectation_config.meta[_RULE_META]: result for result in validation.results}
    results = tuple(_result(rule, by_rule[rule.name], frame) for rule in rules)
    return SuiteResult(suite, len(frame), results, seconds=time.perf_counter() - started)


def prepare(
    frame: pd.DataFrame, now: datetime, columns: Iterable[str] | None = None
) -> pd.DataFrame:
    """What GE reads (all of it, or the named columns): typed values, and a boolean per rule GE
    has no built-in for.

    Only strings, floats and booleans: GE hashes every column of the frame it is given, and
    hashing UUID and JSON objects costs seconds on a large sync.
    """
    latest = _utc(now) + CLOCK_SKEW_TOLERANCE
    wanted = _PREPARED if columns is None else dict.fromkeys(columns)
    return pd.DataFrame(
        {name: _PREPARED[name][1](frame, latest) for name in wanted}, index=frame.index
    )


def columns_read(suite: str) -> tuple[str, ...]:
    """The snapshot columns a suite reads (in SNAPSHOT_COLUMNS order): what to select."""
    needed = {"serial"}
    for rule in SUITES[suite]:
        needed.update(_PREPARED[rule.column][0], (rule.reported,))
    return tuple(column for column in SNAPSHOT_COLUMNS if column in needed)


def active_tariff_is_valid(value: Any) -> bool:
    """Absent (not read), or a JSON object with every tariff key holding a number."""
    if not isinstance(value, dict):
        return is_missing(value)
    # Called per row of syncs of 100,000 meters: plain loops and exact type tests are the
    # fast path (and `type(...) in` leaves out bools, which are not amounts).
    for key in TARIFF_MONEY_KEYS:
        amount = value.get(key)
        if type(amount) not in _AMOUNT_TYPES or not math.isfinite(amount):
            return False
    return True


def future_tariff_is_valid(value: Any) -> bool:
    """As an active set, plus an ISO activation datetime (a string)."""
    if not isinstance(value, dict):
        return is_missing(value)
    return active_tariff_is_valid(value) and _is_iso_datetime(value.get(ACTIVATION_KEY))


def is_missing(value: Any) -> bool:
    return (
        value is None
        or value is pd.NaT
        or value is pd.NA
        or (isinstance(value, float) and math.isnan(value))
    )


def render(value: Any) -> str:
    """A value as an operator reads it in check metadata, cut short when long."""
    if is_missing(value):
        text = "NULL"
    elif isinstance(value, datetime):
        text = value.isoformat()
    elif isinstance(value, Mapping | list):
        text = json.dumps(value, sort_keys=True, default=str)
    else:
        text = str(value)
    return text if len(text) <= MAX_VALUE_CHARS else text[: MAX_VALUE_CHARS - 1] + "…"


def sample(frame: pd.DataFrame, positions: Sequence[Any], column: str) -> tuple[BadValue, ...]:
    rows = frame.loc[list(positions)[:SAMPLE_SIZE], ["serial", column]]
    return tuple(
        BadValue(render(serial), column, render(value))
        for serial, value in rows.itertuples(index=False, name=None)
    )


def failures_markdown(result: SuiteResult) -> str:
    """A table per failed expectation: what it expects, how many rows, and a sample of them."""
    if result.passed:
        return "Every expectation passed."
    sections = []
    for failure in result.failures:
        lines = [
            f"**{failure.name}** ({failure.expectation_type}): {failure.description}; "
            f"{failure.error or _rows(failure.unexpected_count)}",
        ]
        if failure.sample:
            lines += ["", "| serial | column | value |", "|---|---|---|"]
            lines += [
                f"| {_cell(bad.serial)} | {bad.column} | {_cell(bad.value)} |"
                for bad in failure.sample
            ]
        if failure.unexpected_count > len(failure.sample):
            lines.append(f"\n... and {failure.unexpected_count - len(failure.sample)} more")
        sections.append("\n".join(lines))
    return "\n\n".join(sections)


def _result(rule: Rule, gx_result: Any, frame: pd.DataFrame) -> ExpectationResult:
    details = gx_result.result or {}
    passed = bool(gx_result.success)
    positions = details.get("partial_unexpected_index_list") or []
    return ExpectationResult(
        name=rule.name,
        expectation_type=gx_result.expectation_config.type,
        description=rule.description,
        passed=passed,
        unexpected_count=int(details.get("unexpected_count") or 0),
        sample=() if passed else sample(frame, positions, rule.reported),
        error=_exception_message(gx_result.exception_info),
    )


def _exception_message(info: Mapping[str, Any] | None) -> str | None:
    """GE's exception info is flat, or keyed by metric when a metric raised."""
    if not info:
        return None
    if "raised_exception" in info:
        return info.get("exception_message") if info["raised_exception"] else None
    return next((m for m in map(_exception_message, info.values()) if m), None)


def _utc(moment: datetime) -> pd.Timestamp:
    if moment.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    return pd.Timestamp(moment).tz_convert("UTC")


def _polled_outcome(values: pd.Series) -> pd.Series:
    outcome = values.astype("str")
    return outcome.where(outcome.isin(["ok", "failed"]))


def _numbers(values: pd.Series) -> pd.Series:
    # numeric columns arrive as Decimal objects; GE compares floats faster and hashes them cheaply
    return pd.to_numeric(values).astype("float64")


def _not_after(values: pd.Series, latest: pd.Timestamp) -> pd.Series:
    # NaT compares False, so a time that was not recorded is never "in the future"
    return ~(pd.to_datetime(values, utc=True) > latest)


def _flags(values: pd.Series, predicate: Callable[[Any], bool]) -> pd.Series:
    return values.map(predicate).astype(bool)


def _is_iso_datetime(value: Any) -> bool:
    if not isinstance(value, str):
        return False
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return False
    return True


def _rows(count: int) -> str:
    return f"{count} row" if count == 1 else f"{count} rows"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


Builder = Callable[[pd.DataFrame, pd.Timestamp], pd.Series]

#: Each column GE reads: the snapshot columns it comes from, and how (given the latest time
#: that is not yet the future).
_PREPARED: dict[str, tuple[tuple[str, ...], Builder]] = {
    "serial": (("serial",), lambda frame, _: frame["serial"].astype("str")),
    "meter_id": (("meter_id",), lambda frame, _: frame["meter_id"].astype("str")),
    "outcome": (("outcome",), lambda frame, _: frame["outcome"].astype("str")),
    "polled_outcome": (("outcome",), lambda frame, _: _polled_outcome(frame["outcome"])),
    "csq": (("csq",), lambda frame, _: _numbers(frame["csq"])),
    "balance": (("balance",), lambda frame, _: _numbers(frame["balance"])),
    "voltage": (("voltage",), lambda frame, _: _numbers(frame["voltage"])),
    "polled_at_not_in_future": (
        ("polled_at",),
        lambda frame, latest: _not_after(frame["polled_at"], latest),
    ),
    "finished_at_not_in_future": (
        ("finished_at",),
        lambda frame, latest: _not_after(frame["finished_at"], latest),
    ),
    "tariffs_active_valid": (
        ("tariffs_active",),
        lambda frame, _: _flags(frame["tariffs_active"], active_tariff_is_valid),
    ),
    "tariffs_future_valid": (
        ("tariffs_future",),
        lambda frame, _: _flags(frame["tariffs_future"], future_tariff_is_valid),
    ),
    "ok_has_balance": (
        ("outcome", "balance"),
        lambda frame, _: (frame["outcome"] != "ok") | frame["balance"].notna(),
    ),
}


@functools.cache
def _gx_suites() -> dict[str, tuple[BatchDefinition, ExpectationSuite]]:
    """One ephemeral GE context per process, with a batch definition and both suites."""
    # Imported here: GE takes seconds to import, which loading the Dagster definitions (every
    # run's step process) should not pay unless a check actually runs.
    import great_expectations as gx
    import great_expectations.expectations as gxe
    from great_expectations.data_context.types.base import (
        DataContextConfig,
        InMemoryStoreBackendDefaults,
        ProgressBarsConfig,
    )

    config = DataContextConfig(
        store_backend_defaults=InMemoryStoreBackendDefaults(),
        analytics_enabled=False,
        progress_bars=ProgressBarsConfig(globally=False),
    )
    context = gx.get_context(mode="ephemeral", project_config=config)
    asset = context.data_sources.add_pandas("flows_raw").add_dataframe_asset("meter_sync_snapshots")
    batch_definition = asset.add_batch_definition_whole_dataframe("one_sync")
    suites = {}
    for name, rules in SUITES.items():
        expectations = [
            getattr(gxe, rule.expectation)(
                column=rule.column, meta={_RULE_META: rule.name}, **rule.params
            )
            for rule in rules
        ]
        suite = context.suites.add(gx.ExpectationSuite(name=name, expectations=expectations))
        suites[name] = (batch_definition, suite)
    return suites
