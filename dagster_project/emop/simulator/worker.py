"""Entry point of a fleet worker process: `python -m dagster_project.emop.simulator.worker`."""

from __future__ import annotations

from .processes import worker_main

if __name__ == "__main__":
    worker_main()
