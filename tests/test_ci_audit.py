"""The CI's pip-audit step (.ci/audit_dependencies.py): a finding fails it; a service that
answered for no package is reported as NOT AUDITED, never as a pass."""

from __future__ import annotations

import importlib.util
import sys

from tests.processes import ROOT

# .ci/ is no package: load the script by path (registered, as its dataclasses need).
_spec = importlib.util.spec_from_file_location("ci_audit", ROOT / ".ci" / "audit_dependencies.py")
audit = importlib.util.module_from_spec(_spec)
sys.modules["ci_audit"] = audit
_spec.loader.exec_module(audit)

DJANGO_CVE = {"id": "PYSEC-2025-1", "fix_versions": ["5.2.9"], "aliases": [], "description": ""}


def test_a_known_vulnerability_fails_the_step():
    report = {
        "dependencies": [
            {"name": "django", "version": "5.2.8", "vulns": [DJANGO_CVE]},
            {"name": "redis", "version": "5.0.0", "vulns": []},
        ]
    }
    found = audit.read_report("pypi", report)
    assert (found.audited, found.skipped) == (2, 0)
    assert audit.verdict([found]) == (
        1,
        "pip-audit: known vulnerabilities:\n  django 5.2.8: PYSEC-2025-1 (fix: 5.2.9)",
    )


def test_every_package_skipped_and_no_other_service_is_not_a_pass():
    # What a mirror without per-release JSON gives: pip-audit itself says "No known
    # vulnerabilities found" and exits 0.
    skipped = {"name": "django", "skip_reason": "Dependency not found on PyPI"}
    pypi = audit.read_report("pypi", {"dependencies": [skipped, {**skipped, "name": "redis"}]})
    osv = audit.Audit("osv", 0, 0, [], unreachable="ConnectionError: api.osv.dev")
    assert audit.verdict([pypi, osv]) == (
        0,
        "pip-audit: NOT AUDITED - no vulnerability service answered "
        "(pypi: skipped all 2 packages; osv: ConnectionError: api.osv.dev)",
    )


def test_the_first_service_that_answers_decides():
    pypi = audit.Audit("pypi", 0, 77, [])
    osv = audit.Audit("osv", 75, 2, [])
    assert audit.verdict([pypi, osv]) == (
        0,
        "pip-audit: no known vulnerabilities in 75 packages (osv; 2 not found there)",
    )
