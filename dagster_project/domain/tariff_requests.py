"""Scheduled tariff change requests: parse an operator's input and check it against the meters."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Literal
from zoneinfo import ZoneInfo

from dagster_project.domain.registry import DELETED, SERIAL_PATTERN
from dagster_project.domain.tariff_push import meter_wall_time
from dagster_project.emop.tariffs import MAX_RATE, activation_limit_error
from dagster_project.emop.values import TWIN_ELEMENT_MODELS

UK_TIME = ZoneInfo("Europe/London")

# Bounds that catch an operator's typo (a rate in pence, a stray digit) before any meter does.
# Standing charge and unit rates stop at the meters' own limit rather than anything higher, so
# that a request accepted here is never refused when the tariff is written to the meter.
MAX_STANDING_CHARGE = MAX_RATE  # GBP per day
MAX_UNIT_RATE = MAX_RATE  # GBP per kWh
MAX_ECREDIT_AVAILABILITY = Decimal("100")  # GBP
MAX_EMERGENCY_CREDIT = Decimal("100")  # GBP
MAX_DEBT_RECOVERY_RATE = Decimal("50")  # GBP per day
# Meters hold money as a count of 1/100 000 GBP.
MONEY_DECIMAL_PLACES = 5

ACTIVE = "active"
ELEMENT_A = "A"
ELEMENT_B = "B"
ELEMENT_SINGLE = "SINGLE"
REGISTERS_MART = "flows.meter_registers"
#: The rates a covered meter gets (flows_raw.tariff_change_request_meters.rates_applied).
RATES_SINGLE = "single"
RATES_DAY_NIGHT = "day_night"
#: Serials named in a message about many meters; the count says how many more.
SERIALS_SHOWN = 5

_ACTIVATION_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(:\d{2})?")


class TariffValueError(ValueError):
    """A value is not acceptable; the message is the reason shown to the operator."""


@dataclass(frozen=True)
class MoneyField:
    """One money field of the tariff JSON, with its upper bound and unit."""

    name: str
    option: str
    maximum: Decimal
    unit: str


# In the Meter Domain page's tariff JSON order.
MONEY_FIELDS = (
    MoneyField("standing_charge", "--standing-charge", MAX_STANDING_CHARGE, "GBP/day"),
    MoneyField("unit_rate_element_a", "--unit-rate-a", MAX_UNIT_RATE, "GBP/kWh"),
    MoneyField("unit_rate_element_b", "--unit-rate-b", MAX_UNIT_RATE, "GBP/kWh"),
    MoneyField(
        "prepayment_ecredit_availability",
        "--ecredit-availability",
        MAX_ECREDIT_AVAILABILITY,
        "GBP",
    ),
    MoneyField(
        "prepayment_debt_recovery_rate", "--debt-recovery-rate", MAX_DEBT_RECOVERY_RATE, "GBP/day"
    ),
    MoneyField("prepayment_emergency_credit", "--emergency-credit", MAX_EMERGENCY_CREDIT, "GBP"),
)


@dataclass(frozen=True)
class TariffArguments:
    """A tariff as the operator typed it; `check_request` parses and checks it."""

    standing_charge: str
    unit_rate_element_a: str
    #: None when not given: single-rate meters take no element B rate.
    unit_rate_element_b: str | None
    prepayment_ecredit_availability: str
    prepayment_debt_recovery_rate: str
    prepayment_emergency_credit: str
    #: UK local wall-clock time, YYYY-MM-DDTHH:MM (seconds optional).
    activation: str


@dataclass(frozen=True)
class MeterTarget:
    """A request for one meter, by serial."""

    kind: ClassVar[str] = "meter"
    serial: str

    @property
    def label(self) -> str:
        return f"meter {self.serial}"


@dataclass(frozen=True)
class EscoTarget:
    """A request for every active prepay meter of an ESCO; `esco` is the text as typed (a UUID,
    or a code that `code_id` resolved from the infrastructure files)."""

    kind: ClassVar[str] = "esco"
    esco: str
    code_id: uuid.UUID | None = None

    @property
    def esco_id(self) -> uuid.UUID | None:
        if self.code_id is not None:
            return self.code_id
        try:
            return uuid.UUID(self.esco.strip())
        except ValueError:
            return None

    @property
    def label(self) -> str:
        return f"ESCO {self.esco}"


@dataclass(frozen=True)
class GroupTarget:
    """A request for every active prepay meter on a site (`kind` "site", by its code in the
    infrastructure files: the meters whose service head serves a property of the site) or on
    a feeder ("feeder", by its name: the meters whose service head hangs off it)."""

    kind: Literal["site", "feeder"]
    name: str

    @property
    def label(self) -> str:
        return f"{self.kind} {self.name}"


Target = MeterTarget | EscoTarget | GroupTarget


@dataclass(frozen=True)
class MeterFacts:
    """What the checks need to know about one registry meter (read by warehouse.tariff_store)."""

    meter_id: uuid.UUID
    serial: str
    esco: uuid.UUID
    mode: str
    #: The registry's flag, else the meter's last report; None while neither is known.
    prepay_enabled: bool | None
    hardware: str | None
    #: Elements of the meter's enabled registers in flows.meter_registers; None when dbt has not
    #: built that mart yet, empty when the mart predates the meter's arrival in the registry.
    enabled_elements: frozenset[str] | None = None
    #: The registry's installation_status: None (counts as enabled), enabled, disabled, deleted.
    installation_status: str | None = None


@dataclass(frozen=True)
class TariffProblem:
    """One reason a request is refused. A request with three problems gives three."""

    #: The meter concerned; None for the request as a whole (an ESCO, an ESCO's tariff values).
    serial: str | None
    field: str
    value: str | None
    reason: str


@dataclass(frozen=True)
class RequestedTariff:
    """A parsed, bounded tariff. Money in GBP as Decimal; activation in UK local time."""

    standing_charge: Decimal
    unit_rate_element_a: Decimal
    unit_rate_element_b: Decimal | None
    prepayment_ecredit_availability: Decimal
    prepayment_debt_recovery_rate: Decimal
    prepayment_emergency_credit: Decimal
    #: Naive: the wall-clock time in Europe/London, known to exist and to be unambiguous.
    activation_local: datetime

    @property
    def activation_at(self) -> datetime:
        return uk_local_to_utc(self.activation_local)

    def to_json(self) -> dict[str, Decimal | str | None]:
        """The Meter Domain page's tariff JSON, money still as Decimal (see tariff_json_text)."""
        out: dict[str, Decimal | str | None] = {
            field.name: getattr(self, field.name) for field in MONEY_FIELDS
        }
        out["activation_datetime"] = self.activation_local.isoformat(timespec="seconds")
        return out


@dataclass(frozen=True)
class RequestCheck:
    """The outcome of checking a request: the tariff, the meters it covers, and every problem."""

    tariff: RequestedTariff | None
    meters: tuple[MeterFacts, ...]
    problems: tuple[TariffProblem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems and self.tariff is not None


@dataclass(frozen=True)
class TariffChangeRequest:
    """One row of flows_raw.tariff_change_requests."""

    request_id: uuid.UUID
    target_kind: str
    meter_id: uuid.UUID | None
    serial: str | None
    esco: uuid.UUID | None
    tariff: RequestedTariff
    requested_by: str
    requested_at: datetime
    #: The site's code or the feeder's name of a site or feeder request.
    target_name: str | None = None

    @property
    def activation_at(self) -> datetime:
        return self.tariff.activation_at


# ---------------------------------------------------------------- values


#: An amount as operators write one: ASCII digits with an optional decimal point.
_PLAIN_AMOUNT = re.compile(r"(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)", re.ASCII)
#: Longest amount accepted: trailing zeros are harmless, thousands of them are a mistake.
MAX_AMOUNT_CHARS = 20


def parse_money(text: str, field: MoneyField) -> Decimal:
    """A non-negative amount within the field's bound, with at most 5 decimal places.

    Only plain digits with an optional decimal point are amounts: Decimal() would also read
    exponents (0E-100000 is 0 with 100000 decimal places, which PostgreSQL cannot store), NaN,
    Infinity, digit-group underscores, non-ASCII digits and signs."""
    stripped = text.strip()
    if stripped.startswith("-") and _PLAIN_AMOUNT.fullmatch(stripped[1:]):
        if Decimal(stripped[1:]) != 0:
            raise TariffValueError("must not be negative")
        stripped = stripped[1:]  # -0 is 0
    if not _PLAIN_AMOUNT.fullmatch(stripped):
        raise TariffValueError(
            "not an amount in GBP: write digits with a decimal point, like 0.2843 "
            "(no sign, exponent, NaN or Infinity)"
        )
    if len(stripped) > MAX_AMOUNT_CHARS:
        raise TariffValueError(
            f"longer than {MAX_AMOUNT_CHARS} characters: write it with at most "
            f"{MONEY_DECIMAL_PLACES} decimal places"
        )
    try:
        value = Decimal(stripped)
    except InvalidOperation:
        raise TariffValueError("not an amount in GBP (write it like 0.2843)") from None
    if value > field.maximum:
        raise TariffValueError(f"over the limit of {field.maximum} {field.unit}")
    # Trailing zeros are harmless: 0.500000 is still 0.5, which a meter can hold.
    exponent = value.normalize().as_tuple().exponent
    if isinstance(exponent, int) and -exponent > MONEY_DECIMAL_PLACES:
        raise TariffValueError(
            f"more than {MONEY_DECIMAL_PLACES} decimal places, which meters cannot store"
        )
    return value


def parse_activation(text: str, now: datetime) -> datetime:
    """The activation's UK wall-clock time (naive): it must exist, be unambiguous and be future."""
    stripped = text.strip()
    if not _ACTIVATION_FORMAT.fullmatch(stripped):
        raise TariffValueError(
            "expected UK local time as YYYY-MM-DDTHH:MM, without a time zone "
            "(it is read as Europe/London)"
        )
    try:
        local = datetime.fromisoformat(stripped)
    except ValueError:
        raise TariffValueError("not a real date and time") from None
    check_uk_local_time(local)
    activation_at = uk_local_to_utc(local)
    if activation_at <= now:
        raise TariffValueError(
            f"activation must be in the future: it is {_utc_text(activation_at)}, "
            f"now is {_utc_text(now)} ({_local_text(now.astimezone(UK_TIME))} UK time)"
        )
    check_storable(activation_at)
    return local


def check_storable(activation_at: datetime) -> None:
    """Refuse an activation some meter could not store. A meter holds it on its own wall clock
    (UK local time with daylight-saving correction, UTC without), so both encodings must fit."""
    for dst_enabled in (True, False):
        error = activation_limit_error(meter_wall_time(activation_at, dst_enabled))
        if error is not None:
            raise TariffValueError(error)


def check_uk_local_time(local: datetime) -> None:
    """Refuse a UK wall-clock time the clocks skip (spring) or show twice (autumn)."""
    earlier = local.replace(tzinfo=UK_TIME, fold=0)
    later = local.replace(tzinfo=UK_TIME, fold=1)
    earlier_offset, later_offset = earlier.utcoffset(), later.utcoffset()
    assert earlier_offset is not None and later_offset is not None
    shift = abs(later_offset - earlier_offset)
    if not shift:
        return
    # Shifting by the size of the change always lands outside the skipped or repeated hour.
    suggestions = f"{_local_text(local - shift)} or {_local_text(local + shift)}"
    if earlier.astimezone(UTC).astimezone(UK_TIME).replace(tzinfo=None) != local:
        raise TariffValueError(
            f"{_local_text(local)} does not exist in UK time: the clocks go forward an hour "
            f"that night and skip it; choose another time, e.g. {suggestions}"
        )
    raise TariffValueError(
        f"{_local_text(local)} is ambiguous in UK time: the clocks go back an hour that night, "
        f"so it happens twice ({_utc_text(earlier.astimezone(UTC))} and "
        f"{_utc_text(later.astimezone(UTC))}); choose a time that happens once, e.g. {suggestions}"
    )


def uk_local_to_utc(local: datetime) -> datetime:
    """The UTC instant of a UK wall-clock time (one that `check_uk_local_time` accepts)."""
    return local.replace(tzinfo=UK_TIME).astimezone(UTC)


def check_requested_by(name: str) -> list[TariffProblem]:
    if not name.strip():
        return [TariffProblem(None, "requested_by", name, "must name who asks for the change")]
    return []


def parse_tariff(
    arguments: TariffArguments, now: datetime
) -> tuple[RequestedTariff | None, list[TariffProblem]]:
    """Every field parsed and bounded; every problem listed, not just the first."""
    values: dict[str, Decimal | None] = {}
    problems: list[TariffProblem] = []
    for field in MONEY_FIELDS:
        text = getattr(arguments, field.name)
        if text is None:  # only element B is optional; the meters decide whether it may be
            values[field.name] = None
            continue
        try:
            values[field.name] = parse_money(text, field)
        except TariffValueError as error:
            problems.append(TariffProblem(None, field.name, text, str(error)))
    try:
        activation = parse_activation(arguments.activation, now)
    except TariffValueError as error:
        problems.append(
            TariffProblem(None, "activation_datetime", arguments.activation, str(error))
        )
    if problems:
        return None, problems
    return RequestedTariff(**values, activation_local=activation), []  # type: ignore[arg-type]


# ---------------------------------------------------------------- meters


def register_elements(meter: MeterFacts) -> tuple[frozenset[str], str]:
    """The meter's enabled register elements, and where that knowledge came from.

    The mart knows the model the meter itself last reported; the registry's hardware is the
    fallback before dbt has built the mart, or before it has seen this meter.
    """
    if meter.enabled_elements:
        return meter.enabled_elements, f"its registers in {REGISTERS_MART}"
    if meter.hardware in TWIN_ELEMENT_MODELS:
        elements = frozenset({ELEMENT_A, ELEMENT_B})
    else:
        elements = frozenset({ELEMENT_SINGLE})
    return elements, f"its registry hardware {meter.hardware or '(empty)'!r}"


def rates_applied(meter: MeterFacts) -> str:
    """Day and night rates for a twin-element meter (registers A and B), else one rate."""
    elements, _ = register_elements(meter)
    return RATES_DAY_NIGHT if ELEMENT_B in elements else RATES_SINGLE


@dataclass(frozen=True)
class MeterRates:
    """The unit rates one covered meter gets from a request."""

    rates_applied: str
    unit_rate_element_a: Decimal
    #: The night rate on a twin-element meter; None on a single-rate meter, which has no
    #: element B register (the push writes its element B price as zero).
    unit_rate_element_b: Decimal | None


def meter_rates(meter: MeterFacts, tariff: RequestedTariff) -> MeterRates:
    """What a checked request gives this meter: the night rate only where there is element B."""
    rates = rates_applied(meter)
    if rates == RATES_SINGLE:
        return MeterRates(rates, tariff.unit_rate_element_a, None)
    if tariff.unit_rate_element_b is None:  # the checks refuse such a request
        raise ValueError(f"meter {meter.serial} is twin-element: the request has no night rate")
    return MeterRates(rates, tariff.unit_rate_element_a, tariff.unit_rate_element_b)


def rate_problem(meter: MeterFacts, unit_rate_element_b: str | None) -> TariffProblem | None:
    """For a one-meter request: a twin-element meter needs a night rate (element B), and a
    single-rate meter takes none (giving one is a mistake about the meter)."""
    elements, source = register_elements(meter)
    field = "unit_rate_element_b"
    if ELEMENT_B in elements and unit_rate_element_b is None:
        return TariffProblem(
            meter.serial,
            field,
            None,
            f"the meter is dual-rate (registers A and B, from {source}): give --unit-rate-b",
        )
    if ELEMENT_B not in elements and unit_rate_element_b is not None:
        return TariffProblem(
            meter.serial,
            field,
            unit_rate_element_b,
            f"the meter is single-rate (register {ELEMENT_SINGLE}, from {source}): "
            "leave out --unit-rate-b",
        )
    return None


def status_problems(meter: MeterFacts) -> list[TariffProblem]:
    """Only active meters with prepayment enabled, not deleted, can take a prepayment tariff."""
    problems = []
    if meter.installation_status == DELETED:
        # The write path would only cancel the change at its next run.
        problems.append(
            TariffProblem(
                meter.serial,
                "installation_status",
                DELETED,
                "the meter is deleted in the registry, so no change can reach it",
            )
        )
    if meter.mode != ACTIVE:
        problems.append(
            TariffProblem(
                meter.serial,
                "mode",
                meter.mode,
                "the meter is not active (a passive meter is a digital twin, never contacted)",
            )
        )
    if meter.prepay_enabled is None:
        problems.append(
            TariffProblem(
                meter.serial,
                "prepay_enabled",
                "unknown",
                "the registry leaves prepayment empty and no sync has read it from the meter "
                "yet; set prepay_enabled in the registry file or wait for the next sync",
            )
        )
    elif not meter.prepay_enabled:
        problems.append(
            TariffProblem(
                meter.serial,
                "prepay_enabled",
                "false",
                "prepayment is disabled on the meter, so it has no prepayment tariff",
            )
        )
    return problems


def is_covered(meter: MeterFacts) -> bool:
    """Whether an ESCO-wide request applies to the meter."""
    return (
        meter.mode == ACTIVE
        and meter.prepay_enabled is True
        and meter.installation_status != DELETED
    )


def check_meters(
    target: Target, meters: Sequence[MeterFacts], unit_rate_element_b: str | None
) -> tuple[tuple[MeterFacts, ...], list[TariffProblem]]:
    """The meters a request covers, and what stops the tariff from applying to each."""
    if isinstance(target, MeterTarget):
        return _check_meter(target, meters, unit_rate_element_b)
    if isinstance(target, EscoTarget):
        return _check_esco(target, meters, unit_rate_element_b)
    return _check_group(target, meters, unit_rate_element_b)


def _check_meter(
    target: MeterTarget, meters: Sequence[MeterFacts], unit_rate_element_b: str | None
) -> tuple[tuple[MeterFacts, ...], list[TariffProblem]]:
    matching = [meter for meter in meters if meter.serial == target.serial]
    if not matching:
        reason = (
            "not in the meter registry (flows_raw.meter_registry)"
            if SERIAL_PATTERN.fullmatch(target.serial)
            else "not a meter serial ('EML' and 10 digits)"
        )
        return (), [TariffProblem(target.serial, "serial", target.serial, reason)]
    (meter,) = matching  # the registry's serials are unique
    problems = status_problems(meter)
    problem = rate_problem(meter, unit_rate_element_b)
    return (meter,), problems + ([problem] if problem else [])


def _check_esco(
    target: EscoTarget, meters: Sequence[MeterFacts], unit_rate_element_b: str | None
) -> tuple[tuple[MeterFacts, ...], list[TariffProblem]]:
    esco_id = target.esco_id
    if esco_id is None:
        reason = "not a UUID, nor the code of an ESCO in escos.csv"
        return (), [TariffProblem(None, "esco", target.esco, reason)]
    members = [meter for meter in meters if meter.esco == esco_id]
    return _covered_members(members, "esco", target.esco, "the ESCO", unit_rate_element_b)


def _check_group(
    target: GroupTarget, meters: Sequence[MeterFacts], unit_rate_element_b: str | None
) -> tuple[tuple[MeterFacts, ...], list[TariffProblem]]:
    """`meters`: those the infrastructure files put on the site or feeder."""
    return _covered_members(
        meters, target.kind, target.name, f"the {target.kind}", unit_rate_element_b
    )


def _covered_members(
    members: Sequence[MeterFacts],
    field: str,
    value: str,
    what: str,
    unit_rate_element_b: str | None,
) -> tuple[tuple[MeterFacts, ...], list[TariffProblem]]:
    """The members a group request covers (active, prepay, not deleted), or why none."""
    covered = tuple(sorted((m for m in members if is_covered(m)), key=lambda m: m.serial))
    if not covered:
        reason = (
            f"{what} has no active meter with prepayment enabled in the registry "
            f"({len(members)} meter(s) listed for it)"
        )
        return (), [TariffProblem(None, field, value, reason)]
    problem = esco_rate_problem(covered, unit_rate_element_b)
    return covered, [problem] if problem else []


def esco_rate_problem(
    covered: Sequence[MeterFacts], unit_rate_element_b: str | None
) -> TariffProblem | None:
    """An ESCO's night rate goes to its twin-element meters only, so single-rate meters never
    stop it; without one, the twin-element meters would have no element B rate."""
    if unit_rate_element_b is not None:
        return None
    twins = [meter.serial for meter in covered if rates_applied(meter) == RATES_DAY_NIGHT]
    if not twins:
        return None
    shown = ", ".join(twins[:SERIALS_SHOWN])
    if len(twins) > SERIALS_SHOWN:
        shown += f" and {len(twins) - SERIALS_SHOWN} more"
    return TariffProblem(
        None,
        "unit_rate_element_b",
        None,
        f"{len(twins)} of the {len(covered)} covered meters are twin-element (registers A and "
        f"B) and need a night rate: give --unit-rate-b, which goes to them only ({shown})",
    )


# ---------------------------------------------------------------- the request


def check_request(
    target: Target,
    arguments: TariffArguments,
    meters: Sequence[MeterFacts],
    now: datetime,
    requested_by: str,
) -> RequestCheck:
    """Check a request against the registry meters it names; any problem refuses all of it."""
    tariff, problems = parse_tariff(arguments, now)
    covered, meter_problems = check_meters(target, meters, arguments.unit_rate_element_b)
    problems = problems + check_requested_by(requested_by) + meter_problems
    if isinstance(target, MeterTarget):
        # A one-meter request: every problem is that meter's, and each line should say so.
        problems = [p if p.serial else replace(p, serial=target.serial) for p in problems]
    return RequestCheck(tariff=tariff, meters=covered, problems=tuple(problems))


def build_request(
    target: Target,
    check: RequestCheck,
    requested_by: str,
    requested_at: datetime,
    request_id: uuid.UUID | None = None,
) -> TariffChangeRequest:
    """The row to store for a request that passed its checks."""
    if not check.ok or check.tariff is None:
        raise ValueError("a request with problems cannot be stored")
    meter = check.meters[0] if isinstance(target, MeterTarget) else None
    return TariffChangeRequest(
        request_id=request_id or uuid.uuid4(),
        target_kind=target.kind,
        meter_id=meter.meter_id if meter else None,
        serial=meter.serial if meter else None,
        esco=target.esco_id if isinstance(target, EscoTarget) else None,
        tariff=check.tariff,
        requested_by=requested_by.strip(),
        requested_at=requested_at,
        target_name=target.name if isinstance(target, GroupTarget) else None,
    )


def tariff_json_text(tariff: Mapping[str, Decimal | str | None]) -> str:
    """JSON text with money as exact decimal numbers (json.dumps would go through float)."""
    items = (f"{json.dumps(name)}: {_json_scalar(value)}" for name, value in tariff.items())
    return "{" + ", ".join(items) + "}"


def _json_scalar(value: Decimal | str | None) -> str:
    if isinstance(value, Decimal):
        return format(value, "f")
    return json.dumps(value)


# ---------------------------------------------------------------- what the operator reads


def problem_line(problem: TariffProblem, target: Target) -> str:
    """One line naming the meter (or the ESCO), the field, the value and the reason."""
    who = f"meter {problem.serial}" if problem.serial else target.label
    value = "(not given)" if problem.value is None else repr(problem.value)
    return f"{who}: {problem.field} = {value}: {problem.reason}"


def stored_lines(request: TariffChangeRequest, meters: Sequence[MeterFacts]) -> list[str]:
    """What was stored: the request, its tariff, and one line per meter it covers."""
    tariff = request.tariff
    if request.serial:
        target = f"meter {request.serial}"
    elif request.target_name:
        target = f"{request.target_kind} {request.target_name}"
    else:
        target = f"ESCO {request.esco}"
    lines = [
        f"tariff change request {request.request_id} stored for {target} "
        f"({len(meters)} meter{'s' if len(meters) != 1 else ''})",
        f"  tariff:     {tariff_json_text(tariff.to_json())}",
        f"  activation: {_local_text(tariff.activation_local)} UK time = "
        f"{_utc_text(request.activation_at)}",
        f"  requested:  by {request.requested_by} at {_utc_text(request.requested_at)}",
    ]
    lines += [
        f"  meter {meter.serial} ({meter.meter_id}): {rates_text(meter_rates(meter, tariff))}"
        for meter in meters
    ]
    return lines


def rates_text(rates: MeterRates) -> str:
    text = f"unit rate A {rates.unit_rate_element_a} GBP/kWh"
    if rates.unit_rate_element_b is None:
        return text + " (single rate, no night rate)"
    return text + f", B {rates.unit_rate_element_b} GBP/kWh"


def _local_text(local: datetime) -> str:
    wall = local.replace(tzinfo=None)
    return wall.isoformat(timespec="minutes" if not wall.second else "seconds")


def _utc_text(moment: datetime) -> str:
    return moment.astimezone(UTC).replace(tzinfo=None).isoformat(timespec="seconds") + "Z"
