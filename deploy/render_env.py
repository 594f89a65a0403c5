"""Print the env template named by argv[1] (deploy/env.example) filled in for a first install.

Run by install.sh. The secrets are generated here and go only to stdout, never to a command
line (``ps`` shows every process's arguments to every user). The other values come from the
environment: TDS_PREFIX, TDS_SERVER_NAME and, when given to the installer, DATABASE_URL and
the few settings a first install may name up front (PASSED_THROUGH).
Standard library only: it runs before the virtual environment has its packages.
"""

from __future__ import annotations

import os
import re
import secrets
import string
import sys

ALPHANUMERIC = string.ascii_letters + string.digits
# Set in the installer's environment, these replace the template's line: the database host's
# PgBouncer, a balancer to believe, the Prometheus server allowed to read /metrics.
PASSED_THROUGH = ("DATABASE_PGBOUNCER", "TRUSTED_PROXIES", "METRICS_ALLOWED_IPS")


def random_alnum(length: int) -> str:
    return "".join(secrets.choice(ALPHANUMERIC) for _ in range(length))


def render(
    template: str,
    prefix: str,
    server_name: str,
    database_url: str,
    given: dict[str, str] | None = None,
) -> str:
    values = {
        "SECRET_KEY": random_alnum(64),
        "ZOHO_WEBHOOK_SECRETS": random_alnum(40),  # Zoho takes 12-50 letters and digits
    }
    lines = []
    for line in template.replace("/opt/tds_core", prefix).splitlines():
        name, sep, value = line.partition("=")
        if sep and value == "CHANGE_ME" and name in values:
            line = f"{name}={values[name]}"
        elif sep and name == "ALLOWED_HOSTS":
            line = f"ALLOWED_HOSTS={server_name},localhost,127.0.0.1"
        elif sep and given and name in given:
            line = f"{name}={given[name]}"
        elif sep and name == "DATABASE_PASSWORD" and value == "CHANGE_ME" and database_url:
            line = "DATABASE_PASSWORD="  # DATABASE_URL, added below, wins over DATABASE_*
        lines.append(line)
    if database_url:
        lines.append(f"DATABASE_URL={database_url}")
    return "\n".join(lines) + "\n"


def main() -> None:
    with open(sys.argv[1], encoding="utf-8") as template:
        text = template.read()
    server_name = os.environ["TDS_SERVER_NAME"]
    if not re.fullmatch(r"[A-Za-z0-9.-]+", server_name):
        raise SystemExit(f"render_env: not a host name: {server_name!r}")
    given = {name: os.environ[name] for name in PASSED_THROUGH if os.environ.get(name)}
    for name, value in given.items():
        if not re.fullmatch(r"[A-Za-z0-9.,:/_-]*", value):
            raise SystemExit(f"render_env: {name}: unexpected characters in {value!r}")
    database_url = os.environ.get("DATABASE_URL", "")
    sys.stdout.write(render(text, os.environ["TDS_PREFIX"], server_name, database_url, given))


if __name__ == "__main__":
    main()
