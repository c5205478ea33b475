"""`flows tariff`: operators schedule tariff changes, checked and stored for the write path."""

from __future__ import annotations

import getpass
import sys
from dataclasses import replace
from datetime import UTC, datetime

import click
import psycopg

from dagster_project.cli.common import settings
from dagster_project.domain import tariff_requests as tr
from dagster_project.emop.tariffs import LAST_ACTIVATION
from dagster_project.warehouse import connection
from dagster_project.warehouse.infrastructure_store import esco_ids
from dagster_project.warehouse.raw_tables import ensure_raw_tables
from dagster_project.warehouse.tariff_store import insert_request, meters_for_target
from dagster_project.warehouse.write_store import insert_covered_meters

# Click's own usage errors exit 2 too, so a refused request and a mistyped command look alike
# to scripts: nothing was stored.
EXIT_INVALID = 2

SET_HELP = f"""Schedule a tariff change for one meter (--serial) or for every active meter with
prepayment enabled of an ESCO (--esco, UUID or code), a site (--site) or a feeder (--feeder).
The request is checked and stored in
flows_raw.tariff_change_requests; nothing is written to a meter yet.

\b
Limits (GBP, at most {tr.MONEY_DECIMAL_PLACES} decimal places, none negative):
  standing charge        <= {tr.MAX_STANDING_CHARGE} per day
  unit rates A and B     <= {tr.MAX_UNIT_RATE} per kWh
  ecredit availability   <= {tr.MAX_ECREDIT_AVAILABILITY}
  emergency credit       <= {tr.MAX_EMERGENCY_CREDIT}
  debt recovery rate     <= {tr.MAX_DEBT_RECOVERY_RATE} per day

--from is UK local time (Europe/London) and must be in the future, at the latest
{LAST_ACTIVATION.isoformat()} (the last activation time a meter can store); a time the clocks
skip (spring) or show twice (autumn) is refused. Twin-element meters (registers A and B) need
--unit-rate-b, the night rate. For one meter, a single-rate meter must not get it; for an
ESCO, it goes to the twin-element meters and the single-rate ones have no night rate. An ESCO
request is refused as a whole if any of its meters fails. Problems go to stderr, one a line,
with exit status 2."""


def os_user() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):  # no login name in the environment nor in the password file
        return "unknown"


@click.group("tariff")
def tariff() -> None:
    """Scheduled tariff changes (flows_raw.tariff_change_requests)."""


@tariff.command("set", help=SET_HELP)
@click.option("--serial", default=None, help="The meter's serial (EML and 10 digits).")
@click.option("--esco", default=None, help="An ESCO's UUID or code: all its active prepay meters.")
@click.option("--site", default=None, help="A site's code: all its active prepay meters.")
@click.option("--feeder", default=None, help="A feeder's name: all its active prepay meters.")
@click.option("--standing-charge", required=True, help="GBP per day.")
@click.option("--unit-rate-a", required=True, help="GBP per kWh (element A, or the single rate).")
@click.option(
    "--unit-rate-b", default=None, help="GBP per kWh, element B (night): twin-element meters."
)
@click.option("--ecredit-availability", required=True, help="GBP.")
@click.option("--debt-recovery-rate", required=True, help="GBP per day.")
@click.option("--emergency-credit", required=True, help="GBP.")
@click.option("--from", "activation", required=True, help="UK local time, YYYY-MM-DDTHH:MM.")
@click.option("--requested-by", default=None, help="Who asks for it (default: the OS user).")
def set_tariff(
    serial: str | None,
    esco: str | None,
    site: str | None,
    feeder: str | None,
    standing_charge: str,
    unit_rate_a: str,
    unit_rate_b: str | None,
    ecredit_availability: str,
    debt_recovery_rate: str,
    emergency_credit: str,
    activation: str,
    requested_by: str | None,
) -> None:
    targets: list[tr.Target] = [
        *([tr.MeterTarget(serial.strip())] if serial is not None else []),
        *([tr.EscoTarget(esco)] if esco is not None else []),
        *([tr.GroupTarget("site", site.strip().lower())] if site is not None else []),
        *([tr.GroupTarget("feeder", feeder.strip())] if feeder is not None else []),
    ]
    if len(targets) != 1:
        raise click.UsageError("give exactly one of --serial, --esco, --site or --feeder")
    (target,) = targets
    arguments = tr.TariffArguments(
        standing_charge=standing_charge,
        unit_rate_element_a=unit_rate_a,
        unit_rate_element_b=unit_rate_b,
        prepayment_ecredit_availability=ecredit_availability,
        prepayment_debt_recovery_rate=debt_recovery_rate,
        prepayment_emergency_credit=emergency_credit,
        activation=activation,
    )
    requester = os_user() if requested_by is None else requested_by
    now = datetime.now(UTC)

    database = connection.resolve_database(settings())
    try:
        with connection.connect(database.url, autocommit=True) as conn:
            ensure_raw_tables(conn)
            if isinstance(target, tr.EscoTarget) and target.esco_id is None:
                code_id = esco_ids(conn).get(target.esco.strip().lower())
                target = replace(target, code_id=code_id)
            # Checked and stored against one snapshot: a registry reload meanwhile cannot mix
            # the old registry's meters with the new one's registers.
            conn.isolation_level = psycopg.IsolationLevel.REPEATABLE_READ
            with conn.transaction():
                meters = meters_for_target(conn, target)
                check = tr.check_request(target, arguments, meters, now, requester)
                if check.ok:
                    request = tr.build_request(target, check, requester, requested_at=now)
                    insert_request(conn, request)
                    insert_covered_meters(conn, request, check.meters)
    except psycopg.OperationalError as error:
        click.echo(f"error: database {database.display_url}: {error}", err=True)
        sys.exit(1)
    except psycopg.Error as error:  # the checks passed but the database refused the row
        first_line = str(error).splitlines()[0] if str(error) else type(error).__name__
        click.echo(
            f"error: database {database.display_url}: the request could not be stored "
            f"({first_line}); nothing stored",
            err=True,
        )
        sys.exit(1)

    if not check.ok:
        for problem in check.problems:
            click.echo(tr.problem_line(problem, target), err=True)
        click.echo(f"refused: {len(check.problems)} problem(s), nothing stored", err=True)
        sys.exit(EXIT_INVALID)
    for line in tr.stored_lines(request, check.meters):
        click.echo(line)
