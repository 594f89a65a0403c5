"""The runbook follows the tests: every command docs/operations.md gives for installing,
upgrading, restoring and adding hosts was run, as written, by a host test of this session.
(Named zz_ so that it runs after them.)"""

from __future__ import annotations

import re

from tests.hosts import runbook


def test_every_runbook_command_was_run_by_a_host_test(host_stage):
    expected = {
        (section, index)
        for section in runbook.COVERED
        for index in range(len(runbook.blocks(section)))
    }
    assert len(expected) >= 9  # the sections still hold their commands
    missing = sorted(expected - runbook.ran)
    assert missing == [], "\n\n".join(runbook.command(s, i, None) for s, i in missing)


def test_the_capacity_section_gives_measured_figures():
    text = runbook.RUNBOOK.read_text()
    section = re.search(r"^## Capacity\n(.*?)(?=^## |\Z)", text, re.M | re.S)
    assert section, "docs/operations.md has no Capacity section"
    body = section[1]
    assert re.search(r"\d+ events/s", body)
    for topic in ("PgBouncer", "partition", "add"):
        assert topic in body, topic


def test_blocks_reads_indented_commands_only():
    text = "## A\n\nprose `x`\n\n    one\n    two\n\nmore\n\n    three\n\n## B\n\n    four\n"
    assert runbook.blocks("A", text) == ["one\ntwo", "three"]
