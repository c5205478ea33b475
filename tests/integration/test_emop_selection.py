"""`flows emop` over the meters of an ESCO, a site or a feeder, as an operator runs it: the
registry and infrastructure files loaded into a database of their own, the meters simulated."""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from dagster import materialize

from dagster_project.defs.infrastructure.assets import infrastructure_files
from dagster_project.defs.registry.source import RegistrySource
from dagster_project.defs.resources import WarehouseResource
from dagster_project.simulator import FleetConfig
from dagster_project.warehouse.connection import scratch_database
from tests.support.energy import load_registry
from tests.support.fleet_thread import FleetThread
from tests.support.flows_cli import flows
from tests.support.settings import current_settings, embedded_server


@pytest.fixture
def selection_database(database_url: str) -> Iterator[str]:
    server_url = current_settings().database_url or embedded_server().start()
    with scratch_database(server_url, "flows_emop_selection") as url:
        yield url


def infrastructure(serials: list[str], escos: list[str]) -> dict[str, list[str]]:
    """Meters 0-1 on feeder F1 and site `meadow`, 2-3 on F2 and site `orchard`; ESCO e<n> is
    the n-th of the fleet's ESCO ids."""
    sites = ["meadow", "meadow", "orchard", "orchard"]
    return {
        "escos.csv": ["id,code,name"] + [f"{esco},E{n},ESCO {n}" for n, esco in enumerate(escos)],
        "sites.csv": ["code,name,esco", "meadow,Meadow,e0", "orchard,Orchard,e0"],
        "properties.csv": ["site,plot"] + [f"{site},{n}" for n, site in enumerate(sites)],
        "feeders.csv": ["name,esco", "F1,e0", "F2,e0"],
        "service_heads.csv": ["name,feeder,phase,fuse_rating,type"]
        + [f"H{n},F{1 + n // 2},1,100,network_owned" for n in range(4)],
        "property_service_heads.csv": ["site,plot,service_head"]
        + [f"{site},{n},H{n}" for n, site in enumerate(sites)],
        "service_head_meters.csv": ["service_head,serial"]
        + [f"H{n},{serial}" for n, serial in enumerate(serials)],
    }


def emop(url: str, *args: str):
    env = {**os.environ, "FLOWS_DATABASE_URL": url}
    return flows(
        "emop", "--gap", "0", "--timeout", "2", "--attempts", "1", *args, env=env, check=False
    )


def headed(stdout: str) -> list[str]:
    """The serials of the meters read, from their headings."""
    return [line.split()[2] for line in stdout.splitlines() if line.startswith("== meter ")]


def test_flows_emop_reads_each_meter_of_an_esco_site_or_feeder(
    selection_database, tmp_path: Path
) -> None:
    thread = FleetThread(FleetConfig(meters=4, seed=5, port=0, esco_count=2))
    with thread as fleet:
        load_registry(selection_database, fleet, tmp_path)
        serials = [meter.serial for meter in fleet.meters]
        escos = sorted({str(meter.spec.esco) for meter in fleet.meters})
        directory = tmp_path / "infra"
        directory.mkdir()
        for name, lines in infrastructure(serials, escos).items():
            (directory / name).write_text("\n".join(lines) + "\n")
        assert materialize(
            [infrastructure_files],
            resources={
                "warehouse": WarehouseResource(database_url=selection_database),
                "registry_source": RegistrySource(infrastructure_dir=str(directory)),
            },
        ).success

        of_esco = [m.serial for m in fleet.meters if str(m.spec.esco) == escos[0]]
        result = emop(selection_database, "csq", "--esco", "E0")
        assert result.returncode == 0, result.stderr
        assert headed(result.stdout) == sorted(of_esco)
        assert f"{len(of_esco)} of {len(of_esco)} meters with esco 'E0' read" in result.stderr

        # An ESCO by its UUID, and a site and feeder together: the meters in both.
        by_id = emop(selection_database, "csq", "--esco", escos[0])
        assert headed(by_id.stdout) == sorted(of_esco)
        both = emop(selection_database, "csq", "--site", "orchard", "--feeder", "F2", "--json")
        assert both.returncode == 0, both.stderr
        lines = [json.loads(line) for line in both.stdout.splitlines()]
        assert [line["serial"] for line in lines] == sorted(serials[2:])
        assert all(line["errors"] == [] and "csq" in line["result"] for line in lines)

        # A meter that does not answer is said, the others are still read, and the exit is 1.
        thread.call(fleet.set_fault(0, "offline"))
        feeder = emop(selection_database, "csq", "--feeder", "F1")
        assert feeder.returncode == 1
        assert headed(feeder.stdout) == sorted(serials[:2])
        assert f"1 of 2 meters with feeder 'F1' read; failed: {serials[0]}" in feeder.stderr

    unknown = emop(selection_database, "csq", "--site", "nowhere")
    assert unknown.returncode == 1
    assert "no polled meter with site 'nowhere'" in unknown.stderr
    both_ways = emop(selection_database, "csq", "--site", "meadow", "--host", "127.0.0.1")
    assert both_ways.returncode == 2
    assert "not both" in both_ways.stderr
