"""A fleet of simulated Emlite meters answering EMOP over loopback TCP, for tests and benchmarks.

Modules: clock (simulated time), rng (seeded draws), config (FleetConfig, fault kinds),
identity (serials, models, addresses, fault assignment), model (MeterModel: balance, registers,
drift, tariffs, logs; GroundTruth), handler (one request frame -> one response frame), server
(SimulatedFleet: listeners, connections, faults), processes (ProcessFleet: a fleet split across
worker processes), registry_out (the registry CSV), infrastructure_out (the infrastructure files
written beside it: ESCOs, sites, properties, feeders, service heads, circuits and their links),
serve (run_simulator, serve_fleet).

In-process fleet (tests)::

    config = FleetConfig(meters=1000, seed=7, faulty_fraction=0.05, freeze_model=True,
                         faults={3: "offline", 4: "nak"})
    async with SimulatedFleet(config) as fleet:
        for meter in fleet.meters:  # meter.index .serial .host .port .fault .address
            truth = meter.ground_truth()  # GroundTruth: what a correct client reads
        fleet.write_registry_csv(path)  # and escos.csv, sites.csv, ... beside it
        await fleet.set_fault(3, None)  # back online
        fleet.advance(timedelta(hours=1))  # move a frozen model on

Large fleets (several processes, one slice of indices each)::

    with ProcessFleet(FleetConfig(meters=100_000, seed=7)) as fleet:
        fleet.listings  # MeterListing(index, serial, host, port, fault, address, hardware)
        fleet.write_registry_csv(path)

    with serve_fleet_processes(config) as endpoints:  # list[emop.state.MeterEndpoint]
        ...

Command-line entry (blocks until SIGINT/SIGTERM)::

    run_simulator(
        config: FleetConfig,
        registry_out: Path | None = None,
        *,
        processes: int | None = None,          # default: ceil(meters / meters_per_process)
        meters_per_process: int = 16_000,      # one socket per meter; fd limit 20 000
        use_uvloop: bool = True,               # when installed
        echo: Callable[[str], None] = print,   # one line per process, registry line
        ready: Callable[[list[MeterListing]], None] | None = None,
        stop: threading.Event | None = None,
    ) -> None

    async serve_fleet(config, registry_out=None, ready=None, *, echo=print, stop=None) -> None
    # the single-process form, for an already running event loop

Prepay tokens: a 20-digit token credits its first five digits in pence (00500... = £5.00); a
token the meter has already accepted is refused with NAK 6 (access denied) and credits nothing.
Each accepted token adds event 48 to the event log.

Future tariffs: writes to the future-set objects are stored; the set becomes active once the
meter's own clock reaches the activation time, read as UK local time when the meter's DST flag
is set and as UTC when it is not. Activation copies the whole set: every block and TOU rate,
thresholds, TOU flag and gas, element A's price from block 8 rate 1 and element B's from TOU
rate 1.

Objects: a meter serves every object of emop.objects.SINGLE_PHASE_OBJECTS as its access says
(writable ones read back what was written); reading a write-only object or writing a read-only
one is NAK 6, and three-phase-only or unknown ids are NAK 5. Instantaneous power is the last
half hour's energy in W (Wh x 2); current, reactive power and power factor follow from it and
the voltage.

Nothing here imports Dagster or SQL libraries.
"""

from __future__ import annotations

from dagster_project.simulator.clock import SimClock
from dagster_project.simulator.config import FAULT_KINDS, FleetConfig, ip_for_index
from dagster_project.simulator.model import GroundTruth, MeterModel, token_credit_units
from dagster_project.simulator.processes import (
    DEFAULT_METERS_PER_PROCESS,
    ProcessFleet,
    serve_fleet_processes,
)
from dagster_project.simulator.serve import run_simulator, serve_fleet
from dagster_project.simulator.server import (
    MeterListing,
    SimMeter,
    SimulatedFleet,
    max_meters_per_process,
)

__all__ = [
    "DEFAULT_METERS_PER_PROCESS",
    "FAULT_KINDS",
    "FleetConfig",
    "GroundTruth",
    "MeterListing",
    "MeterModel",
    "ProcessFleet",
    "SimClock",
    "SimMeter",
    "SimulatedFleet",
    "ip_for_index",
    "max_meters_per_process",
    "run_simulator",
    "serve_fleet",
    "serve_fleet_processes",
    "token_credit_units",
]
