"""The apps depend one way (docs/architecture.md): a test, so that the rule holds by itself.

Every import in an app's code (its tests aside) of another app's module must be one that
``MAY_IMPORT`` allows. ``tds_site`` is the shared ground every app stands on; it imports no
app, except the modules that assemble the site from them.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent

MAY_IMPORT: dict[str, set[str]] = {
    "tds_site": set(),
    "entities": {"tds_site"},
    "syncqueue": {"entities", "tds_site"},
    "inbox": {"syncqueue", "entities", "tds_site"},
    "reconciliation": {"syncqueue", "entities", "tds_site"},
    # A record's story reads what each app keeps of it.
    "records": {"inbox", "reconciliation", "syncqueue", "entities", "tds_site"},
    # The watchers read everything; nothing reads them but the metrics.
    "alerts": {"inbox", "reconciliation", "syncqueue", "entities", "tds_site"},
    "metrics": {"alerts", "inbox", "reconciliation", "syncqueue", "entities", "tds_site"},
}
# The URL map, the site-wide views (health, 404) and the ASGI application (webhooks to
# inbox.asgi, the rest to Django) put the apps together.
ASSEMBLERS = {"tds_site/urls.py", "tds_site/views.py", "tds_site/asgi.py"}


def _imported_apps(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return {name.split(".")[0] for name in names} & MAY_IMPORT.keys()


def _app_modules(app: str) -> list[Path]:
    return [
        path
        for path in sorted((ROOT / app).rglob("*.py"))
        if "tests" not in path.relative_to(ROOT).parts
        and str(path.relative_to(ROOT)) not in ASSEMBLERS
    ]


@pytest.mark.parametrize("app", sorted(app for app in MAY_IMPORT if (ROOT / app).is_dir()))
def test_an_app_imports_only_the_apps_below_it(app):
    modules = _app_modules(app)
    assert modules, app
    wrong = {
        f"{path.relative_to(ROOT)} imports {other}"
        for path in modules
        for other in _imported_apps(path) - MAY_IMPORT[app] - {app}
    }
    assert not wrong, sorted(wrong)


def test_the_check_sees_a_wrong_import(tmp_path):
    module = tmp_path / "example.py"
    module.write_text("from inbox.models import InboxEvent\nimport syncqueue.stats\n")
    assert _imported_apps(module) == {"inbox", "syncqueue"}
