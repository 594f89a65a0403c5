"""CI step: pip-audit over the installed environment, honest about what it could check.

pip-audit asks a vulnerability service about every installed release. Where that service
cannot be reached it does not fail: PyPI's per-release JSON answering 404 (as a mirror
that serves only the project pages does) makes it skip every package and still print "No
known vulnerabilities found". So each service is tried in turn (PyPI, then OSV) until one
audits at least one package. A known vulnerability fails the step; no service answering
is reported as NOT AUDITED and does not fail CI, since it says nothing about the code.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("pypi", "osv")
NETWORK_ERRORS = ("ConnectionError", "NameResolutionError", "Max retries exceeded", "timed out")


@dataclass(frozen=True)
class Audit:
    service: str
    audited: int  # packages the service answered for
    skipped: int
    findings: list[str]  # "name version: ID (fix: versions)"
    unreachable: str = ""  # why nothing could be asked, when so


def run_pip_audit(service: str) -> Audit:
    with tempfile.TemporaryDirectory() as tmp:
        report = Path(tmp) / "report.json"
        options = ["--skip-editable", "--progress-spinner", "off", "--format", "json"]
        where = ["--vulnerability-service", service, "--output", str(report)]
        done = subprocess.run(
            [sys.executable, "-m", "pip_audit", *options, *where],
            capture_output=True,
            text=True,
            timeout=600,
        )
        if not report.exists() or not report.read_text().strip():
            if any(marker in done.stderr for marker in NETWORK_ERRORS):
                return Audit(service, 0, 0, [], unreachable=done.stderr.strip().splitlines()[-1])
            raise SystemExit(f"pip-audit failed ({done.returncode}):\n{done.stderr}")
        return read_report(service, json.loads(report.read_text()))


def read_report(service: str, report: dict) -> Audit:
    dependencies = report["dependencies"]
    skipped = [d for d in dependencies if "skip_reason" in d]
    findings = [
        f"{d['name']} {d['version']}: {v['id']} (fix: {', '.join(v['fix_versions']) or 'none'})"
        for d in dependencies
        for v in d.get("vulns", [])
    ]
    return Audit(service, len(dependencies) - len(skipped), len(skipped), findings)


def verdict(audits: list[Audit]) -> tuple[int, str]:
    """Exit status and what to print, from the services tried in order."""
    answered = [a for a in audits if a.audited]
    if not answered:
        reasons = "; ".join(
            f"{a.service}: {a.unreachable or f'skipped all {a.skipped} packages'}" for a in audits
        )
        return 0, f"pip-audit: NOT AUDITED - no vulnerability service answered ({reasons})"
    audit = answered[0]
    if audit.findings:
        return 1, "pip-audit: known vulnerabilities:\n  " + "\n  ".join(audit.findings)
    return 0, (
        f"pip-audit: no known vulnerabilities in {audit.audited} packages "
        f"({audit.service}; {audit.skipped} not found there)"
    )


def main() -> int:
    audits = []
    for service in SERVICES:
        audits.append(run_pip_audit(service))
        if audits[-1].audited:
            break
    status, message = verdict(audits)
    print(message)
    return status


if __name__ == "__main__":
    sys.exit(main())
