"""deploy/grafana/tds-core-dashboard.json only queries metrics that /metrics exposes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families

DASHBOARD = Path(__file__).resolve().parents[2] / "deploy" / "grafana" / "tds-core-dashboard.json"


@pytest.mark.django_db
def test_every_queried_metric_is_exposed(client, settings):
    from tests.factories import SyncLogFactory, WorkerHeartbeatFactory

    SyncLogFactory()  # so that the histogram has a series
    WorkerHeartbeatFactory()
    settings.METRICS_ALLOWED_IPS = frozenset({"127.0.0.1"})
    text = client.get("/metrics").content.decode()
    families = list(text_string_to_metric_families(text))
    # Series names (histogram _bucket, counter _total) and families declared even when empty.
    exposed = {s.name for f in families for s in f.samples} | {f.name for f in families}

    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    queried = {name for expr in expressions for name in re.findall(r"\btds_[a-z0-9_]+", expr)}
    assert queried, "the dashboard queries nothing"
    assert queried <= exposed, sorted(queried - exposed)
    assert len({p["id"] for p in dashboard["panels"]}) == len(dashboard["panels"])


PROMTOOL = shutil.which("promtool", path=f"{os.environ.get('PATH', '')}:/usr/bin")


@pytest.mark.skipif(PROMTOOL is None, reason="promtool not installed (Debian package prometheus)")
def test_every_panel_query_is_valid_promql(tmp_path):
    # promtool parses the expressions of recording rules: a cheap offline PromQL check.
    dashboard = json.loads(DASHBOARD.read_text())
    expressions = [t["expr"] for p in dashboard["panels"] for t in p["targets"]]
    rules = {
        "groups": [
            {
                "name": "dashboard",
                "rules": [
                    {"record": f"tds:panel_{i}", "expr": e} for i, e in enumerate(expressions)
                ],
            }
        ]
    }
    path = tmp_path / "rules.yml"
    path.write_text(json.dumps(rules))  # JSON is YAML
    result = subprocess.run(
        [PROMTOOL, "check", "rules", str(path)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
