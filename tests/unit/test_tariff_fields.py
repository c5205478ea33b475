"""The tariff's money fields are listed once (emop.tariffs.TARIFF_MONEY_FIELDS); every other
place that names them must follow that list, in its order."""

from __future__ import annotations

from dataclasses import fields

import pytest

from dagster_project.domain import tariff_push, tariff_requests
from dagster_project.emop import tariffs
from dagster_project.emop.tariffs import TARIFF_MONEY_FIELDS


def money_fields_of(cls: type) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name in set(TARIFF_MONEY_FIELDS))


def test_the_list_is_the_six_money_fields_of_a_tariff_set() -> None:
    assert len(TARIFF_MONEY_FIELDS) == 6
    assert "activation_datetime" not in TARIFF_MONEY_FIELDS


@pytest.mark.parametrize(
    "declared",
    [
        pytest.param(tuple(tariffs.ACTIVE_TARIFF_OBJECTS), id="active objects"),
        pytest.param(tuple(tariffs.FUTURE_TARIFF_OBJECTS)[:6], id="future objects"),
        pytest.param(tuple(f.name for f in tariff_requests.MONEY_FIELDS), id="request options"),
        pytest.param(money_fields_of(tariff_requests.TariffArguments), id="typed arguments"),
        pytest.param(money_fields_of(tariff_requests.RequestedTariff), id="parsed request"),
        pytest.param(money_fields_of(tariff_push.TariffChange), id="change to push"),
    ],
)
def test_every_declaration_follows_the_one_list(declared: tuple[str, ...]) -> None:
    assert declared == TARIFF_MONEY_FIELDS
