"""Entry point of a fleet worker process: `python -m dagster_project.simulator.worker`."""

from __future__ import annotations

from dagster_project.simulator.processes import worker_main

if __name__ == "__main__":
    worker_main()
