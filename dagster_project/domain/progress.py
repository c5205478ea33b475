"""How far work over many meters has got, and when to say so.

A read of a large fleet takes minutes; an operator watching the run (the Dagster UI's log, or
`flows run` on a terminal) sees a line at every tenth of the meters and at least every
`every_seconds`, and one at the end. Each line starts with PROGRESS_MARK, so that `flows run`
can pick them out of the run's log."""

from __future__ import annotations

from dataclasses import dataclass

PROGRESS_MARK = "progress: "
#: At least one line this often while meters keep finishing.
EVERY_SECONDS = 10.0


@dataclass
class Progress:
    what: str
    total: int
    every_seconds: float = EVERY_SECONDS
    done: int = 0
    ok: int = 0
    failed: int = 0
    _said_tenths: int = 0
    _said_at: float | None = None

    def record(self, ok: bool, now: float) -> str | None:
        """Count one meter finished; the line to say now, if one is due."""
        self.done += 1
        if ok:
            self.ok += 1
        else:
            self.failed += 1
        if self._said_at is None:
            self._said_at = now  # the clock starts with the first meter
        tenths = self.done * 10 // max(self.total, 1)
        due = (
            self.done >= self.total
            or tenths > self._said_tenths
            or now - self._said_at >= self.every_seconds
        )
        if not due:
            return None
        self._said_tenths, self._said_at = tenths, now
        return self.line()

    def line(self) -> str:
        return (
            f"{PROGRESS_MARK}{self.what}: {self.done} of {self.total} meters "
            f"({self.ok} ok, {self.failed} failed)"
        )


def progress_text(line: str) -> str | None:
    """The progress a log line carries (without the mark), or None if it carries none."""
    _, mark, text = line.partition(PROGRESS_MARK)
    return text.strip() if mark else None
