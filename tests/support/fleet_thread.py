"""A simulated fleet served from a background thread, for tests whose code under test runs its
own event loop (Dagster assets call asyncio.run)."""

from __future__ import annotations

import asyncio
import concurrent.futures
import threading
from collections.abc import Coroutine
from typing import Any, TypeVar

from dagster_project.simulator import FleetConfig, SimulatedFleet

T = TypeVar("T")


class FleetThread:
    def __init__(self, config: FleetConfig) -> None:
        self.config = config
        self.fleet: SimulatedFleet | None = None
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="simulated-fleet", daemon=True)

    def __enter__(self) -> SimulatedFleet:
        self._thread.start()
        if not self._ready.wait(120):
            raise TimeoutError("simulated fleet did not start")
        if self._error is not None:
            raise self._error
        assert self.fleet is not None
        return self.fleet

    def __exit__(self, *exc_info: object) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(60)

    def call(self, coroutine: Coroutine[Any, Any, Any]) -> Any:
        """Run a coroutine on the fleet's loop (e.g. fleet.set_fault) and wait for it."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(60)

    def submit(self, coroutine: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        """Start a coroutine on the fleet's loop (a probe of its meters, say) without waiting."""
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop)

    def _run(self) -> None:
        asyncio.set_event_loop(self._loop)
        self._loop.run_until_complete(self._serve())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        try:
            async with SimulatedFleet(self.config) as fleet:
                self.fleet = fleet
                self._ready.set()
                await self._stop.wait()
        except BaseException as error:  # surface start-up failures to the test
            self._error = error
            self._ready.set()
