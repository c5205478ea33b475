"""Tariff change request checks, without a database: values, UK time, meters and ESCOs."""

from __future__ import annotations

import json
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest

from dagster_project.domain import tariff_requests as tr

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
ESCO = uuid.UUID("2f7a3c64-5a0b-4e8e-9d7c-1b9a2e4f6c01")
OTHER_ESCO = uuid.UUID("9d0e5b1a-7c3f-4a2e-8b6d-0f1e2d3c4b5a")
FIELDS = {field.name: field for field in tr.MONEY_FIELDS}


def meter(number: int, **overrides: object) -> tr.MeterFacts:
    facts = tr.MeterFacts(
        meter_id=uuid.UUID(int=number + 1),
        serial=f"EML{2200000000 + number:010d}",
        esco=ESCO,
        mode="active",
        prepay_enabled=True,
        hardware="C1.w",
    )
    return replace(facts, **overrides)  # type: ignore[arg-type]


TWIN = meter(0)
SINGLE = meter(1, hardware="B1.w")


def arguments(**overrides: str | None) -> tr.TariffArguments:
    values: dict[str, str | None] = {
        "standing_charge": "0.5868",
        "unit_rate_element_a": "0.2843",
        "unit_rate_element_b": "0.15",
        "prepayment_ecredit_availability": "10.00",
        "prepayment_debt_recovery_rate": "0.25",
        "prepayment_emergency_credit": "15.00",
        "activation": "2027-04-01T00:00",
    }
    values.update(overrides)
    return tr.TariffArguments(**values)  # type: ignore[arg-type]


def check(
    target: tr.Target,
    meters: list[tr.MeterFacts],
    requested_by: str = "alice",
    **overrides: str | None,
) -> tr.RequestCheck:
    return tr.check_request(target, arguments(**overrides), meters, NOW, requested_by)


def fields_of(result: tr.RequestCheck) -> list[tuple[str | None, str]]:
    return [(problem.serial, problem.field) for problem in result.problems]


# ---------------------------------------------------------------- money


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0.2843", "0.2843"), ("0", "0"), ("1.00", "1.00"), ("0.12345", "0.12345"), ("-0", "0")],
)
def test_money_is_parsed_exactly(text: str, expected: str) -> None:
    value = tr.parse_money(text, FIELDS["unit_rate_element_a"])
    assert isinstance(value, Decimal)
    assert str(value) == expected


def test_trailing_zeros_past_five_places_are_still_five_places() -> None:
    assert tr.parse_money("0.500000", FIELDS["standing_charge"]) == Decimal("0.5")


@pytest.mark.parametrize("text", ["abc", "", "0,5", "£0.50", "NaN", "Infinity", "1e"])
def test_money_that_is_not_a_number_is_refused(text: str) -> None:
    with pytest.raises(tr.TariffValueError, match="not an amount"):
        tr.parse_money(text, FIELDS["standing_charge"])


@pytest.mark.parametrize("field", tr.MONEY_FIELDS, ids=lambda field: field.name)
def test_negative_money_is_refused(field: tr.MoneyField) -> None:
    with pytest.raises(tr.TariffValueError, match="must not be negative"):
        tr.parse_money("-0.01", field)


@pytest.mark.parametrize("field", tr.MONEY_FIELDS, ids=lambda field: field.name)
def test_money_up_to_the_bound_passes_and_over_it_is_refused(field: tr.MoneyField) -> None:
    assert tr.parse_money(str(field.maximum), field) == field.maximum
    with pytest.raises(tr.TariffValueError, match=f"over the limit of {field.maximum}"):
        tr.parse_money(str(field.maximum + Decimal("0.00001")), field)


def test_bounds_are_the_documented_ones() -> None:
    # Rates and standing charge stop at the meters' own limit, so the write path can use them.
    assert tr.MAX_STANDING_CHARGE == tr.MAX_UNIT_RATE == Decimal("1.00")
    assert tr.MAX_ECREDIT_AVAILABILITY == tr.MAX_EMERGENCY_CREDIT == Decimal("100")
    assert Decimal("50") == tr.MAX_DEBT_RECOVERY_RATE


def test_more_than_five_decimal_places_is_refused() -> None:
    with pytest.raises(tr.TariffValueError, match="more than 5 decimal places"):
        tr.parse_money("0.123456", FIELDS["unit_rate_element_a"])


# ---------------------------------------------------------------- UK time


@pytest.mark.parametrize(
    ("local", "utc"),
    [
        # BST: an hour ahead of UTC, so local midnight is the previous day's 23:00 UTC.
        ("2027-04-01T00:00", datetime(2027, 3, 31, 23, 0, tzinfo=UTC)),
        # GMT again after the autumn change.
        ("2027-11-01T00:00", datetime(2027, 11, 1, 0, 0, tzinfo=UTC)),
        # Either side of the skipped spring hour and of the repeated autumn hour.
        ("2027-03-28T00:59", datetime(2027, 3, 28, 0, 59, tzinfo=UTC)),
        ("2027-03-28T02:00", datetime(2027, 3, 28, 1, 0, tzinfo=UTC)),
        ("2027-10-31T00:59", datetime(2027, 10, 30, 23, 59, tzinfo=UTC)),
        ("2027-10-31T02:00", datetime(2027, 10, 31, 2, 0, tzinfo=UTC)),
        ("2027-01-15T12:30:45", datetime(2027, 1, 15, 12, 30, 45, tzinfo=UTC)),
    ],
)
def test_activation_converts_to_the_right_utc_instant(local: str, utc: datetime) -> None:
    parsed = tr.parse_activation(local, NOW)
    assert parsed == datetime.fromisoformat(local) and parsed.tzinfo is None
    assert tr.uk_local_to_utc(parsed) == utc


@pytest.mark.parametrize("local", ["2027-03-28T01:30", "2027-03-28T01:00", "2027-03-28T01:59"])
def test_a_local_time_the_clocks_skip_is_refused(local: str) -> None:
    with pytest.raises(tr.TariffValueError) as error:
        tr.parse_activation(local, NOW)
    message = str(error.value)
    assert f"{local} does not exist in UK time" in message
    assert "clocks go forward" in message


def test_a_skipped_time_suggests_times_that_exist() -> None:
    with pytest.raises(tr.TariffValueError, match=r"e\.g\. 2027-03-28T00:30 or 2027-03-28T02:30"):
        tr.parse_activation("2027-03-28T01:30", NOW)
    tr.parse_activation("2027-03-28T00:30", NOW)
    tr.parse_activation("2027-03-28T02:30", NOW)


@pytest.mark.parametrize("local", ["2027-10-31T01:30", "2027-10-31T01:00", "2027-10-31T01:59"])
def test_a_local_time_shown_twice_is_refused_as_ambiguous(local: str) -> None:
    with pytest.raises(tr.TariffValueError) as error:
        tr.parse_activation(local, NOW)
    message = str(error.value)
    assert f"{local} is ambiguous in UK time" in message
    assert "clocks go back an hour" in message and "happens twice" in message
    assert "choose a time that happens once" in message


def test_an_ambiguous_time_names_both_instants_and_suggests_others() -> None:
    with pytest.raises(tr.TariffValueError) as error:
        tr.parse_activation("2027-10-31T01:30", NOW)
    message = str(error.value)
    assert "(2027-10-31T00:30:00Z and 2027-10-31T01:30:00Z)" in message
    assert message.endswith("e.g. 2027-10-31T00:30 or 2027-10-31T02:30")
    tr.parse_activation("2027-10-31T00:30", NOW)
    tr.parse_activation("2027-10-31T02:30", NOW)


def test_activation_must_be_strictly_in_the_future() -> None:
    with pytest.raises(tr.TariffValueError, match="must be in the future"):
        tr.parse_activation("2020-01-01T00:00", NOW)
    # NOW is 09:00 UTC in November: 09:00 UK time (GMT) is the same instant, not the future.
    with pytest.raises(tr.TariffValueError, match="must be in the future"):
        tr.parse_activation("2026-11-27T09:00", NOW)
    tr.parse_activation("2026-11-27T09:01", NOW)


def test_future_is_judged_as_instants_not_wall_clock_times() -> None:
    summer_now = datetime(2027, 7, 1, 8, 30, tzinfo=UTC)  # 09:30 BST
    with pytest.raises(tr.TariffValueError, match="must be in the future"):
        tr.parse_activation("2027-07-01T09:15", summer_now)  # 08:15 UTC: already past
    assert tr.uk_local_to_utc(tr.parse_activation("2027-07-01T09:45", summer_now)) == datetime(
        2027, 7, 1, 8, 45, tzinfo=UTC
    )


@pytest.mark.parametrize(
    "text",
    ["2027-04-01", "2027-04-01 00:00", "2027-04-01T00:00Z", "2027-04-01T00:00+01:00", "tomorrow"],
)
def test_activation_must_be_a_plain_local_time(text: str) -> None:
    with pytest.raises(tr.TariffValueError, match="YYYY-MM-DDTHH:MM"):
        tr.parse_activation(text, NOW)


# The meter counts activation in unsigned 32-bit seconds since 2000-01-01 00:00 on its clock.
LAST_STORABLE = datetime(2136, 2, 7, 6, 28, 15, tzinfo=UTC)


def test_the_last_storable_activation_is_accepted_and_a_second_later_refused() -> None:
    # February: UK time is GMT, so the UK wall clock and UTC agree on both kinds of meter.
    parsed = tr.parse_activation("2136-02-07T06:28:15", NOW)
    assert tr.uk_local_to_utc(parsed) == LAST_STORABLE
    with pytest.raises(tr.TariffValueError) as error:
        tr.parse_activation("2136-02-07T06:28:16", NOW)
    assert str(error.value) == (
        "after 2136-02-07T06:28:15, the last activation time a meter can store "
        "(32-bit seconds since 2000-01-01 on its clock)"
    )


def test_the_limit_is_checked_on_the_instant_as_meters_encode_it() -> None:
    tr.check_storable(LAST_STORABLE)
    with pytest.raises(tr.TariffValueError, match="after 2136-02-07T06:28:15"):
        tr.check_storable(LAST_STORABLE + timedelta(seconds=1))
    # The same instant given in another zone is the same activation.
    tr.check_storable(LAST_STORABLE.astimezone(tr.UK_TIME))


@pytest.mark.parametrize("local", ["2207-01-01T00:00", "9999-12-31T23:59", "2136-07-01T00:00"])
def test_an_activation_no_meter_can_store_is_refused_with_the_limit_named(local: str) -> None:
    result = check(tr.MeterTarget(TWIN.serial), [TWIN], activation=local)
    assert not result.ok and result.tariff is None
    (problem,) = result.problems
    assert (problem.serial, problem.field, problem.value) == (
        TWIN.serial,
        "activation_datetime",
        local,
    )
    line = tr.problem_line(problem, tr.MeterTarget(TWIN.serial))
    assert line == (
        f"meter {TWIN.serial}: activation_datetime = '{local}': after 2136-02-07T06:28:15, "
        "the last activation time a meter can store (32-bit seconds since 2000-01-01 on its clock)"
    )


def test_activation_must_be_a_real_date() -> None:
    with pytest.raises(tr.TariffValueError, match="not a real date"):
        tr.parse_activation("2027-02-30T10:00", NOW)


# ---------------------------------------------------------------- the tariff as a whole


def test_every_tariff_problem_is_listed_not_just_the_first() -> None:
    tariff, problems = tr.parse_tariff(
        arguments(
            standing_charge="-1",
            unit_rate_element_a="9",
            prepayment_emergency_credit="0.1234567",
            activation="2027-03-28T01:30",
        ),
        NOW,
    )
    assert tariff is None
    assert [(p.field, p.value) for p in problems] == [
        ("standing_charge", "-1"),
        ("unit_rate_element_a", "9"),
        ("prepayment_emergency_credit", "0.1234567"),
        ("activation_datetime", "2027-03-28T01:30"),
    ]


def test_tariff_json_has_the_meter_domain_shape_with_exact_money() -> None:
    tariff, problems = tr.parse_tariff(arguments(), NOW)
    assert problems == [] and tariff is not None
    text = tr.tariff_json_text(tariff.to_json())
    assert json.loads(text, parse_float=Decimal) == {
        "standing_charge": Decimal("0.5868"),
        "unit_rate_element_a": Decimal("0.2843"),
        "unit_rate_element_b": Decimal("0.15"),
        "prepayment_ecredit_availability": Decimal("10.00"),
        "prepayment_debt_recovery_rate": Decimal("0.25"),
        "prepayment_emergency_credit": Decimal("15.00"),
        "activation_datetime": "2027-04-01T00:00:00",
    }
    assert '"standing_charge": 0.5868' in text  # a number, not a string, and not via float
    assert list(json.loads(text)) == [field.name for field in tr.MONEY_FIELDS] + [
        "activation_datetime"
    ]
    assert tariff.activation_at == datetime(2027, 3, 31, 23, 0, tzinfo=UTC)


def test_a_single_rate_tariff_has_a_null_element_b() -> None:
    tariff, _ = tr.parse_tariff(arguments(unit_rate_element_b=None), NOW)
    assert tariff is not None
    assert json.loads(tr.tariff_json_text(tariff.to_json()))["unit_rate_element_b"] is None


# ---------------------------------------------------------------- registers


def test_registers_from_the_mart_take_precedence_over_the_registry_hardware() -> None:
    exchanged = replace(TWIN, enabled_elements=frozenset({"SINGLE"}))
    elements, source = tr.register_elements(exchanged)
    assert elements == {"SINGLE"} and "flows.meter_registers" in source


@pytest.mark.parametrize(
    ("hardware", "elements"),
    [("C1.w", {"A", "B"}), ("B1.w", {"SINGLE"}), ("EMA1.w", {"SINGLE"}), (None, {"SINGLE"})],
)
@pytest.mark.parametrize("mart", [None, frozenset()], ids=["no mart", "meter not in mart"])
def test_without_registers_the_registry_hardware_decides(
    hardware: str | None, elements: set[str], mart: frozenset[str] | None
) -> None:
    facts = replace(TWIN, hardware=hardware, enabled_elements=mart)
    found, source = tr.register_elements(facts)
    assert found == elements and "registry hardware" in source


def test_a_dual_rate_meter_needs_unit_rate_b() -> None:
    problem = tr.rate_problem(TWIN, None)
    assert problem is not None
    assert (problem.serial, problem.field, problem.value) == (
        TWIN.serial,
        "unit_rate_element_b",
        None,
    )
    assert "dual-rate" in problem.reason and "--unit-rate-b" in problem.reason
    assert tr.rate_problem(TWIN, "0.15") is None


def test_a_single_rate_meter_must_not_get_unit_rate_b() -> None:
    problem = tr.rate_problem(SINGLE, "0.15")
    assert problem is not None
    assert (problem.serial, problem.field, problem.value) == (
        SINGLE.serial,
        "unit_rate_element_b",
        "0.15",
    )
    assert "single-rate" in problem.reason and "'B1.w'" in problem.reason
    assert tr.rate_problem(SINGLE, None) is None


def test_a_twin_meter_the_mart_knows_as_dual_rate_needs_unit_rate_b() -> None:
    mart_says_dual = replace(SINGLE, enabled_elements=frozenset({"A", "B"}))
    assert tr.rate_problem(mart_says_dual, None) is not None
    assert tr.rate_problem(mart_says_dual, "0.15") is None


# ---------------------------------------------------------------- one meter


def test_a_valid_meter_request_has_no_problems() -> None:
    result = check(tr.MeterTarget(TWIN.serial), [TWIN])
    assert result.ok and result.problems == () and result.meters == (TWIN,)


def test_a_valid_single_rate_request_has_no_problems() -> None:
    result = check(tr.MeterTarget(SINGLE.serial), [SINGLE], unit_rate_element_b=None)
    assert result.ok


def test_an_unknown_serial_is_refused() -> None:
    result = check(tr.MeterTarget("EML2999999999"), [])
    (problem,) = result.problems
    assert (problem.serial, problem.field, problem.value) == (
        "EML2999999999",
        "serial",
        "EML2999999999",
    )
    assert "not in the meter registry" in problem.reason
    assert not result.ok


def test_a_malformed_serial_says_so() -> None:
    (problem,) = check(tr.MeterTarget("12345"), []).problems
    assert "not a meter serial" in problem.reason


def test_a_passive_meter_is_refused() -> None:
    result = check(tr.MeterTarget(TWIN.serial), [replace(TWIN, mode="passive")])
    assert fields_of(result) == [(TWIN.serial, "mode")]
    assert result.problems[0].value == "passive"


def test_a_meter_without_prepayment_is_refused() -> None:
    result = check(tr.MeterTarget(TWIN.serial), [replace(TWIN, prepay_enabled=False)])
    assert fields_of(result) == [(TWIN.serial, "prepay_enabled")]
    assert result.problems[0].value == "false"


def test_a_deleted_meter_is_refused_and_left_out_of_an_esco_request() -> None:
    deleted = replace(TWIN, installation_status="deleted")
    result = check(tr.MeterTarget(TWIN.serial), [deleted])
    assert fields_of(result) == [(TWIN.serial, "installation_status")]
    assert result.problems[0].value == "deleted"
    # Disabled, enabled or not stated: still covered.
    others = [
        meter(5, installation_status="disabled"),
        meter(6, installation_status="enabled"),
        meter(7),
    ]
    esco = check(tr.EscoTarget(str(ESCO)), [deleted, *others])
    assert esco.ok and esco.meters == tuple(others)


def test_every_meter_and_tariff_problem_is_listed_with_the_serial() -> None:
    passive_no_prepay = replace(TWIN, mode="passive", prepay_enabled=False)
    result = check(
        tr.MeterTarget(TWIN.serial),
        [passive_no_prepay],
        unit_rate_element_b=None,
        standing_charge="-0.5",
        activation="2020-01-01T00:00",
    )
    assert fields_of(result) == [
        (TWIN.serial, "standing_charge"),
        (TWIN.serial, "activation_datetime"),
        (TWIN.serial, "mode"),
        (TWIN.serial, "prepay_enabled"),
        (TWIN.serial, "unit_rate_element_b"),
    ]


def test_an_empty_requester_is_refused() -> None:
    result = check(tr.MeterTarget(TWIN.serial), [TWIN], requested_by="  ")
    assert fields_of(result) == [(TWIN.serial, "requested_by")]


# ---------------------------------------------------------------- an ESCO


def test_an_esco_request_covers_its_active_prepay_meters_only() -> None:
    passive = meter(2, mode="passive")
    no_prepay = meter(3, prepay_enabled=False)
    elsewhere = meter(4, esco=OTHER_ESCO)
    second_twin = meter(5)
    result = check(tr.EscoTarget(str(ESCO)), [second_twin, passive, TWIN, no_prepay, elsewhere])
    assert result.ok
    assert result.meters == (TWIN, second_twin)  # by serial


def rates_of(result: tr.RequestCheck) -> dict[str, tuple[str, Decimal | None]]:
    assert result.tariff is not None
    return {
        m.serial: (rates.rates_applied, rates.unit_rate_element_b)
        for m in result.meters
        for rates in [tr.meter_rates(m, result.tariff)]
    }


def test_an_esco_night_rate_goes_to_its_twin_element_meters_only() -> None:
    ema = meter(6, hardware="EMA1.w")
    # Registered as single-rate, but its registers in the mart say twin element: the mart wins.
    reported_twin = meter(7, hardware="B1.w", enabled_elements=frozenset({"A", "B"}))
    result = check(tr.EscoTarget(str(ESCO)), [TWIN, SINGLE, ema, reported_twin])
    assert result.ok, result.problems
    assert rates_of(result) == {
        TWIN.serial: ("day_night", Decimal("0.15")),
        SINGLE.serial: ("single", None),
        ema.serial: ("single", None),
        reported_twin.serial: ("day_night", Decimal("0.15")),
    }
    # Element A is the request's on every meter.
    assert result.tariff is not None
    assert {tr.meter_rates(m, result.tariff).unit_rate_element_a for m in result.meters} == {
        Decimal("0.2843")
    }


def test_an_esco_without_a_night_rate_is_refused_naming_how_many_twin_element_meters() -> None:
    target = tr.EscoTarget(str(ESCO))
    result = check(target, [TWIN, SINGLE, meter(5)], unit_rate_element_b=None)
    assert not result.ok
    (problem,) = result.problems  # one line for the ESCO, not one per meter
    assert (problem.serial, problem.field, problem.value) == (None, "unit_rate_element_b", None)
    line = tr.problem_line(problem, target)
    assert line.startswith(f"ESCO {ESCO}: unit_rate_element_b = (not given): ")
    assert "2 of the 3 covered meters are twin-element" in line
    assert "give --unit-rate-b" in line
    assert TWIN.serial in line and meter(5).serial in line and SINGLE.serial not in line


def test_a_long_list_of_twin_element_meters_is_cut_short_with_a_count() -> None:
    twins = [meter(n) for n in range(8)]
    (problem,) = check(tr.EscoTarget(str(ESCO)), twins, unit_rate_element_b=None).problems
    assert "8 of the 8 covered meters" in problem.reason
    assert twins[4].serial in problem.reason and twins[5].serial not in problem.reason
    assert problem.reason.endswith("and 3 more)")


def test_an_esco_of_single_rate_meters_needs_no_night_rate_and_may_be_given_one() -> None:
    singles = [SINGLE, meter(6, hardware="EMA1.w")]
    without = check(tr.EscoTarget(str(ESCO)), singles, unit_rate_element_b=None)
    with_b = check(tr.EscoTarget(str(ESCO)), singles)
    assert without.ok and with_b.ok
    assert set(rates_of(with_b).values()) == {("single", None)}


def test_rates_for_a_twin_element_meter_need_a_night_rate() -> None:
    tariff, _ = tr.parse_tariff(arguments(unit_rate_element_b=None), NOW)
    assert tariff is not None
    assert tr.meter_rates(SINGLE, tariff) == tr.MeterRates("single", Decimal("0.2843"), None)
    with pytest.raises(ValueError, match=f"meter {TWIN.serial} is twin-element"):
        tr.meter_rates(TWIN, tariff)


def test_an_esco_without_active_prepay_meters_is_an_error() -> None:
    result = check(tr.EscoTarget(str(ESCO)), [meter(2, mode="passive")])
    (problem,) = result.problems
    assert (problem.serial, problem.field, problem.value) == (None, "esco", str(ESCO))
    assert "no active meter with prepayment enabled" in problem.reason
    assert "1 meter(s)" in problem.reason
    assert result.meters == ()


def test_an_esco_that_is_not_a_uuid_is_refused() -> None:
    (problem,) = check(tr.EscoTarget("acme"), [TWIN]).problems
    assert (problem.field, problem.value, problem.reason) == (
        "esco",
        "acme",
        "not a UUID, nor the code of an ESCO in escos.csv",
    )


def test_esco_tariff_problems_name_the_esco() -> None:
    target = tr.EscoTarget(str(ESCO))
    result = check(target, [TWIN], unit_rate_element_a="-1")
    (problem,) = result.problems
    assert problem.serial is None
    assert tr.problem_line(problem, target) == (
        f"ESCO {ESCO}: unit_rate_element_a = '-1': must not be negative"
    )


# ---------------------------------------------------------------- what is stored and shown


def test_a_meter_request_row() -> None:
    target = tr.MeterTarget(TWIN.serial)
    result = check(target, [TWIN], requested_by=" alice ")
    request_id = uuid.uuid4()
    request = tr.build_request(target, result, " alice ", NOW, request_id)
    assert (request.request_id, request.target_kind) == (request_id, "meter")
    assert (request.meter_id, request.serial, request.esco) == (TWIN.meter_id, TWIN.serial, None)
    assert (request.requested_by, request.requested_at) == ("alice", NOW)
    assert request.activation_at == datetime(2027, 3, 31, 23, 0, tzinfo=UTC)


def test_an_esco_request_row() -> None:
    target = tr.EscoTarget(str(ESCO))
    request = tr.build_request(target, check(target, [TWIN, meter(5)]), "bob", NOW)
    assert request.target_kind == "esco"
    assert (request.meter_id, request.serial, request.esco) == (None, None, ESCO)
    assert isinstance(request.request_id, uuid.UUID)


def test_a_request_with_problems_cannot_be_built() -> None:
    target = tr.MeterTarget(TWIN.serial)
    with pytest.raises(ValueError, match="cannot be stored"):
        tr.build_request(target, check(target, []), "alice", NOW)


def test_a_problem_line_names_meter_field_value_and_reason() -> None:
    problem = tr.TariffProblem(TWIN.serial, "unit_rate_element_a", "-1", "must not be negative")
    line = tr.problem_line(problem, tr.EscoTarget(str(ESCO)))
    assert line == f"meter {TWIN.serial}: unit_rate_element_a = '-1': must not be negative"


def test_stored_lines_show_each_meters_own_rates() -> None:
    target = tr.EscoTarget(str(ESCO))
    result = check(target, [TWIN, SINGLE])
    request = tr.build_request(target, result, "bob", NOW, uuid.UUID(int=7))
    meter_lines = [line for line in tr.stored_lines(request, result.meters) if "  meter " in line]
    assert meter_lines == [
        f"  meter {TWIN.serial} ({TWIN.meter_id}): unit rate A 0.2843 GBP/kWh, B 0.15 GBP/kWh",
        f"  meter {SINGLE.serial} ({SINGLE.meter_id}): unit rate A 0.2843 GBP/kWh "
        "(single rate, no night rate)",
    ]


def test_stored_lines_show_one_line_per_covered_meter() -> None:
    target = tr.EscoTarget(str(ESCO))
    result = check(target, [TWIN, meter(5)])
    request = tr.build_request(target, result, "bob", NOW, uuid.UUID(int=7))
    lines = tr.stored_lines(request, result.meters)
    assert lines[0] == f"tariff change request {uuid.UUID(int=7)} stored for ESCO {ESCO} (2 meters)"
    assert "2027-04-01T00:00 UK time = 2027-03-31T23:00:00Z" in lines[2]
    meter_lines = [line for line in lines if line.startswith("  meter ")]
    assert meter_lines == [
        f"  meter {m.serial} ({m.meter_id}): unit rate A 0.2843 GBP/kWh, B 0.15 GBP/kWh"
        for m in (TWIN, meter(5))
    ]


def test_a_meter_whose_prepayment_flag_is_unknown_is_refused_saying_why() -> None:
    unknown = meter(2, prepay_enabled=None)
    assert not tr.is_covered(unknown)
    problems = tr.status_problems(unknown)
    assert [(p.field, p.value) for p in problems] == [("prepay_enabled", "unknown")]
    assert "no sync has read it" in problems[0].reason


@pytest.mark.parametrize(
    "text",
    ["0E-100000", "1e-3", "1e999999", "sNaN", "1_000", "+0.5", "\uff10.\uff15", "0." + "0" * 40],
)
def test_only_plain_digits_are_an_amount(text: str) -> None:
    # Decimal() reads each of these; 0E-100000 would have reached PostgreSQL as 100000 places.
    with pytest.raises(tr.TariffValueError):
        tr.parse_money(text, FIELDS["standing_charge"])


@pytest.mark.parametrize(
    "target", [tr.GroupTarget("site", "meadow"), tr.GroupTarget("feeder", "F1")]
)
def test_a_site_or_feeder_request_covers_its_active_prepay_meters(target) -> None:
    result = check(target, [TWIN, meter(2, mode="passive")])
    assert result.ok
    assert result.meters == (TWIN,)
    request = tr.build_request(target, result, "alice", NOW)
    assert (request.target_kind, request.target_name, request.esco) == (
        target.kind,
        target.name,
        None,
    )
    assert (
        f"stored for {target.kind} {target.name} (1 meter)"
        in tr.stored_lines(request, result.meters)[0]
    )


def test_a_site_without_active_prepay_meters_is_refused_naming_it() -> None:
    target = tr.GroupTarget("site", "meadow")
    (problem,) = check(target, [meter(2, mode="passive")]).problems
    assert tr.problem_line(problem, target) == (
        "site meadow: site = 'meadow': the site has no active meter with prepayment enabled "
        "in the registry (1 meter(s) listed for it)"
    )
