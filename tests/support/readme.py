"""The README's shell examples, as tests/integration/test_readme.py runs them.

Each ```sh block of README.md is preceded by a marker saying how the test treats it:

    <!-- readme-test: run -->              run against the test session's database
    <!-- readme-test: embedded -->         run against a fresh embedded server of its own
    <!-- readme-test: skip (why) -->       not run, for the reason given
    <!-- readme-test: run, exit 3 -->      run; the exit status the README says it has
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

from dagster_project.paths import PROJECT_ROOT

README = PROJECT_ROOT / "README.md"

MODES = ("run", "embedded", "skip")

_FENCE = re.compile(r"^```sh[ \t]*\n(.*?)^```[ \t]*$", re.MULTILINE | re.DOTALL)
_MARKER = re.compile(
    r"<!--\s*readme-test:\s*(?P<mode>[a-z]+)(?:,\s*exit\s+(?P<exit>\d+))?"
    r"(?:\s*\((?P<why>[^)]*)\))?\s*-->\s*$"
)


@dataclass(frozen=True)
class ShellBlock:
    line: int  # of the opening fence, 1-based, to name the block in a failure
    script: str
    mode: str | None  # None: no marker before it
    exit_status: int
    reason: str

    @property
    def name(self) -> str:
        first = next((s for s in self.script.splitlines() if s and not s.startswith("#")), "")
        return f"README.md:{self.line} {first[:60]}"


def shell_blocks(readme: Path = README) -> list[ShellBlock]:
    """Every ```sh block of the README, in order, with the marker on the line before it."""
    text = readme.read_text()
    blocks = []
    for match in _FENCE.finditer(text):
        before = text[: match.start()].rstrip("\n").rsplit("\n", 1)[-1]
        marker = _MARKER.search(before)
        blocks.append(
            ShellBlock(
                line=text.count("\n", 0, match.start()) + 1,
                script=match.group(1),
                mode=marker.group("mode") if marker else None,
                exit_status=int(marker.group("exit") or 0) if marker else 0,
                reason=(marker.group("why") or "") if marker else "",
            )
        )
    return blocks


def for_this_checkout(script: str, venv_bin: Path) -> str:
    """The block as a user of this checkout runs it: `.venv/bin/` is where the test's own
    interpreter lives (a git worktree has no .venv of its own)."""
    return re.sub(r"(?<![\w/.])\.venv/bin/", f"{venv_bin}/", script)
