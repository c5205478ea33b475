"""The registry asset against a real PostgreSQL: good rows load, bad rows are kept apart."""

from __future__ import annotations

from pathlib import Path

import psycopg
from dagster import materialize

from dagster_project.defs.registry.assets import meter_registry_raw
from dagster_project.domain.registry import SERIAL_FORMS, UNSUPPORTED_HARDWARE
from tests.support.registry import registry_csv, registry_row
from tests.support.settings import registry_source, warehouse


def run_registry(csv_path: Path, **config: object):
    return materialize(
        [meter_registry_raw],
        resources={"warehouse": warehouse(), "registry_source": registry_source()},
        run_config={
            "ops": {"flows_raw__meter_registry": {"config": {"csv_path": str(csv_path), **config}}}
        },
        raise_on_error=False,
    )


def materialize_registry(csv_path: Path, **config: object):
    result = run_registry(csv_path, **config)
    assert result.success
    (materialization,) = result.asset_materializations_for_node("flows_raw__meter_registry")
    return materialization.metadata


def raw_registry(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        """
        select id::text, serial, name, host(ip_address), port, hardware, mode, esco::text,
               single_meter_app, daylight_savings_correction_enabled, prepay_enabled, source_row
        from flows_raw.meter_registry order by serial
        """
    ).fetchall()


def rejects(db: psycopg.Connection) -> list[tuple]:
    return db.execute(
        "select row_number, field, value, reason, serial "
        "from flows_raw.meter_registry_rejects order by row_number, field"
    ).fetchall()


def test_good_rows_load_and_bad_rows_are_rejected(tmp_path: Path, db) -> None:
    rows = [
        registry_row(0, port="8081", prepay_enabled="false"),
        registry_row(1, ip_address="999.1.1.1"),
        registry_row(2, mode="passive"),
        registry_row(3, serial="EML42", esco="not-a-uuid"),
    ]
    csv_path = tmp_path / "registry.csv"
    csv_path.write_text(registry_csv(rows))

    metadata = materialize_registry(csv_path)

    loaded = raw_registry(db)
    assert [row[1] for row in loaded] == [rows[0]["serial"], rows[2]["serial"]]
    first = loaded[0]
    assert first[3:8] == ("127.0.5.1", 8081, "C1.w", "active", rows[0]["esco"])
    assert first[8:11] == (False, True, False)
    assert loaded[1][6] == "passive"
    assert rejects(db) == [
        (3, "ip_address", "999.1.1.1", "not an IPv4 or IPv6 address", rows[1]["serial"]),
        (5, "esco", "not-a-uuid", "not a UUID, nor the code of an ESCO in escos.csv", "EML42"),
        (5, "serial", "EML42", f"serial must be {SERIAL_FORMS}, in ASCII", "EML42"),
    ]
    assert metadata["rows_loaded"].value == 2
    assert metadata["rows_rejected"].value == 2
    rejects_table = metadata["rejects"].value
    assert "999.1.1.1" in rejects_table and "not-a-uuid" in rejects_table


def test_reloading_replaces_rather_than_appends(tmp_path: Path, db) -> None:
    csv_path = tmp_path / "registry.csv"
    csv_path.write_text(
        registry_csv([registry_row(n) for n in range(5)] + [registry_row(9, mode="?")])
    )

    materialize_registry(csv_path)
    first_registry, first_rejects = raw_registry(db), rejects(db)
    materialize_registry(csv_path)

    assert len(first_registry) == 5
    assert raw_registry(db) == first_registry
    assert (
        rejects(db)
        == first_rejects
        == [(7, "mode", "?", "mode must be one of active, passive", registry_row(9)["serial"])]
    )

    # A meter removed from the file leaves the registry; a fixed row loads.
    csv_path.write_text(registry_csv([registry_row(n) for n in range(4)] + [registry_row(9)]))
    materialize_registry(csv_path)
    assert [row[1] for row in raw_registry(db)] == sorted(
        registry_row(n)["serial"] for n in (0, 1, 2, 3, 9)
    )
    assert rejects(db) == []


def test_a_registry_table_from_an_earlier_version_gains_new_columns(tmp_path: Path, db) -> None:
    materialize_registry(write_registry(tmp_path, [registry_row(0)]))
    # The staging view on it goes too; the next dbt run builds it again.
    db.execute("alter table flows_raw.meter_registry drop column direction_reversed cascade")

    csv_path = write_registry(tmp_path, [registry_row(0, direction_reversed="true")])
    materialize_registry(csv_path)

    reversed_flags = db.execute("select direction_reversed from flows_raw.meter_registry")
    assert reversed_flags.fetchall() == [(True,)]


def write_registry(folder: Path, rows: list[dict[str, str]]) -> Path:
    csv_path = folder / "registry.csv"
    csv_path.write_text(registry_csv(rows))
    return csv_path


def failure_of(result) -> str:
    (failure,) = [event for event in result.all_events if event.is_step_failure]
    return failure.step_failure_data.error.message


def test_a_file_removing_much_of_the_active_fleet_is_refused_and_the_last_good_kept(
    tmp_path: Path, db
) -> None:
    good = [registry_row(n) for n in range(10)]
    materialize_registry(write_registry(tmp_path, good), max_removed_share=0.1)
    in_force = raw_registry(db)

    # Two rows broken: 2 of 10 active meters would go, over 10%.
    broken = [*good[:8], registry_row(8, esco="x"), registry_row(9, serial="EML9")]
    result = run_registry(write_registry(tmp_path, broken), max_removed_share=0.1)
    assert not result.success
    message = failure_of(result)
    assert "would remove 2 of the 10 active meters (20%)" in message
    assert "FLOWS_REGISTRY_MAX_REMOVED_SHARE=1" in message
    assert raw_registry(db) == in_force
    assert rejects(db) == []

    # Header only: all of them.
    result = run_registry(write_registry(tmp_path, []), max_removed_share=0.1)
    assert "would remove 10 of the 10 active meters" in failure_of(result)
    assert raw_registry(db) == in_force

    # One of ten (10%) is within the limit; so is a meter marked deleted, which is on purpose.
    one_gone = [*good[:8], registry_row(9, installation_status="deleted")]
    materialize_registry(write_registry(tmp_path, one_gone), max_removed_share=0.1)
    assert len(raw_registry(db)) == 9

    # Allowed on purpose, the empty file empties the registry.
    materialize_registry(write_registry(tmp_path, []), max_removed_share=1.0)
    assert raw_registry(db) == []


def test_a_file_with_a_duplicated_column_is_refused_and_the_registry_kept(
    tmp_path: Path, db
) -> None:
    materialize_registry(write_registry(tmp_path, [registry_row(0), registry_row(1)]))
    in_force = raw_registry(db)
    csv_path = tmp_path / "twice.csv"
    header, *rows = registry_csv([registry_row(5)]).splitlines()
    csv_path.write_text("\n".join([header + ",serial", *(row + ",EML2999999999" for row in rows)]))

    result = run_registry(csv_path)
    assert not result.success
    assert "column(s) serial more than once" in failure_of(result)
    assert raw_registry(db) == in_force


def test_empty_flags_statuses_and_three_phase_meters_land_as_such(tmp_path: Path, db) -> None:
    # A database from before: the flags were NOT NULL, and gain null at the next load.
    materialize_registry(write_registry(tmp_path, [registry_row(0)]))
    db.execute("alter table flows_raw.meter_registry alter column prepay_enabled set not null")

    rows = [
        registry_row(0, prepay_enabled="", daylight_savings_correction_enabled=""),
        registry_row(1, serial="EMP1AX00000042", hardware="", installation_status="Disabled"),
        registry_row(2, installation_status="deleted"),
    ]
    materialize_registry(write_registry(tmp_path, rows))
    landed = db.execute(
        "select serial, prepay_enabled, daylight_savings_correction_enabled, "
        "installation_status, not_polled_reason from flows_raw.meter_registry order by source_row"
    ).fetchall()
    assert landed == [
        (rows[0]["serial"], None, None, "enabled", None),
        ("EMP1AX00000042", True, True, "disabled", "disabled in the registry"),
        (rows[2]["serial"], True, True, "deleted", "deleted from the registry"),
    ]
    materialize_registry(write_registry(tmp_path, [registry_row(1, serial="EMP1CX00000043")]))
    (reason,) = db.execute("select not_polled_reason from flows_raw.meter_registry").fetchone()
    assert reason == UNSUPPORTED_HARDWARE
