"""Queries behind the infrastructure checks: meters not placed, the meters on each service head,
the circuit links, feeders' half-hours over their rating. Each returns plain rows
(domain/rules/infrastructure_rules.py's types), which the rules judge."""

from __future__ import annotations

from datetime import datetime

import psycopg
from psycopg.rows import class_row

from dagster_project.domain.rules.infrastructure_rules import (
    CircuitLink,
    FeederHalfHour,
    ServiceHeadMeter,
    UnplacedMeter,
)

#: Half-hours over a rating listed at most.
OVER_RATING_LIMIT = 1000


def unplaced_meters(conn: psycopg.Connection) -> list[UnplacedMeter]:
    """Meters in the registry (deleted ones aside) without a known ESCO or a service head."""
    with conn.cursor(row_factory=class_row(UnplacedMeter)) as cursor:
        return cursor.execute(
            """
            select serial, esco_code is not null as esco_known, service_head
            from flows.meter_registry
            where
                installation_status <> 'deleted'
                and (esco_code is null or service_head is null)
            order by serial
            """
        ).fetchall()


def service_head_meters(conn: psycopg.Connection) -> list[ServiceHeadMeter]:
    with conn.cursor(row_factory=class_row(ServiceHeadMeter)) as cursor:
        return cursor.execute(
            """
            select heads.name as service_head, heads.phase, registry.serial, registry.hardware
            from flows.service_head_meters as links
            inner join flows.service_heads as heads on links.service_head_id = heads.id
            inner join flows.meter_registry as registry on links.meter_id = registry.id
            where registry.installation_status <> 'deleted'
            order by heads.name, registry.serial
            """
        ).fetchall()


def circuit_links(conn: psycopg.Connection) -> list[CircuitLink]:
    with conn.cursor(row_factory=class_row(CircuitLink)) as cursor:
        return cursor.execute(
            """
            select circuit_name as circuit, serial, element, start_time, end_time
            from flows.circuit_registers
            order by serial, element, start_time
            """
        ).fetchall()


def feeder_half_hours_over_rating(
    conn: psycopg.Connection, since: datetime
) -> list[FeederHalfHour]:
    """The half-hours since `since` in which the meters under a rated feeder imported more
    than its rating allows (actual and estimated half-hours)."""
    with conn.cursor(row_factory=class_row(FeederHalfHour)) as cursor:
        return cursor.execute(
            """
            select
                feeders.name as feeder,
                intervals."timestamp" as half_hour,
                sum(intervals.import_kwh) as import_kwh,
                feeders.rating_kw
            from flows.feeders as feeders
            inner join flows.service_heads as heads on heads.feeder_id = feeders.id
            inner join flows.service_head_meters as links on links.service_head_id = heads.id
            inner join flows.register_interval_hh as intervals
                on intervals.meter_id = links.meter_id
            where
                feeders.rating_kw is not null
                and intervals."timestamp" >= %(since)s
                and intervals.quality in ('actual', 'estimated')
            group by feeders.name, intervals."timestamp", feeders.rating_kw
            having sum(intervals.import_kwh) * 2 > feeders.rating_kw
            order by feeders.name, intervals."timestamp"
            limit %(limit)s
            """,
            {"since": since, "limit": OVER_RATING_LIMIT},
        ).fetchall()
