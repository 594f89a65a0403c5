"""The runbook's commands, as the host tests run them: docs/operations.md's indented code
blocks under the sections the tests cover, each run as written (``<placeholders>`` filled
in), and remembered, so that test_zz_runbook can tell whether every one was run."""

from __future__ import annotations

import re

from tests.hosts.machines import Machine
from tests.processes import ROOT

RUNBOOK = ROOT / "docs" / "operations.md"
# The runbook sections whose every command a host test runs.
COVERED = (
    "First install",
    "Upgrade with zero lost webhooks",
    "Backup and restore",
    "Database host",
    "App hosts",
    "PgBouncer in front of PostgreSQL",
)
ran: set[tuple[str, int]] = set()


def blocks(section: str, text: str | None = None) -> list[str]:
    """The code blocks (4-space indented) of a ``##``/``###`` section, up to the next
    heading of any level, without their indentation."""
    text = RUNBOOK.read_text() if text is None else text
    match = re.search(rf"^#{{2,3}} {re.escape(section)}\n(.*?)(?=^#{{1,3}} |\Z)", text, re.M | re.S)
    if not match:
        raise AssertionError(f"docs/operations.md has no section {section!r}")
    found, current, previous_blank = [], [], True
    for line in match[1].splitlines():
        if line.startswith("    ") and (current or previous_blank):
            current.append(line[4:])
        elif current and not line.strip():
            current.append("")
        else:
            if current:
                found.append("\n".join(current).strip())
            current = []
        previous_blank = not line.strip()
    if current:
        found.append("\n".join(current).strip())
    return found


def command(section: str, index: int, values: dict[str, str] | None = None) -> str:
    text = blocks(section)[index]
    for name, value in (values or {}).items():
        text = text.replace(f"<{name}>", value)
    left = re.findall(r"<[a-z][a-z -]*>", text)
    assert not left, f"runbook {section!r} #{index}: no value for {left}"
    return text


def run(
    machine: Machine,
    section: str,
    index: int,
    values: dict[str, str] | None = None,
    *,
    cwd: str = "/root",
    env: dict[str, str] | None = None,
    timeout: float = 900,
):
    """Run block ``index`` of ``section`` on ``machine`` as root, in ``cwd``; stop at the
    first failing command (bash -e), as an operator would."""
    script = command(section, index, values)
    result = machine.run(f"set -euo pipefail\ncd {cwd}\n{script}", env=env, timeout=timeout)
    ran.add((section, index))
    return result
