"""tds_reconcile against a real local HTTP server playing Zoho accounts and the Books API."""

from __future__ import annotations

import copy
import json
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import CommandError, call_command
from django.utils import timezone

from entities.engine import apply_event
from entities.models import Customer, Invoice, Product, Vendor
from reconciliation import reconcile as reconcile_module
from reconciliation import zoho_api
from reconciliation.models import ReconciliationRun
from reconciliation.reconcile import (
    CLOCK_SKEW_MARGIN,
    FORMER_SCHEDULE_NAME,
    SCHEDULE_NAME,
    ensure_reconcile_schedule,
)
from reconciliation.tests.fake_zoho import (
    ACCESS_TOKENS,
    ALL_PATHS,
    CLIENT_ID,
    CLIENT_SECRET,
    ORG_ID,
    REFRESH_TOKEN,
)
from syncqueue.models import QueueEntry, Status
from tests.factories import ReconciliationRunFactory
from tests.support import FIXTURES

pytestmark = pytest.mark.django_db


def fixture(name: str) -> dict:
    body = json.loads((FIXTURES / f"{name}.json").read_text())
    (record,) = body.values()
    return record


def variant(name: str, **changes) -> dict:
    record = copy.deepcopy(fixture(name))
    record.update(changes)
    return record


def run(capsys, *args: str) -> str:
    call_command("tds_reconcile", *args)
    return capsys.readouterr().out


def assert_no_secrets(text: str) -> None:
    for secret in (CLIENT_SECRET, REFRESH_TOKEN, *ACCESS_TOKENS):
        assert secret not in text


def prefill(entity: str, record: dict) -> None:
    apply_event(entity, "update", record, timezone.now())


# --- OAuth, paging, rate limits -------------------------------------------------------


def test_refreshes_a_token_and_sends_it_with_the_organization(zoho, capsys):
    zoho.pages["items"] = [[fixture("item")]]
    out = run(capsys, "--entity", "products", "--since", "2025-03-01")

    (token_request,) = zoho.token_requests
    assert token_request.method == "POST"
    assert token_request.form == {
        "refresh_token": REFRESH_TOKEN,
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        "grant_type": "refresh_token",
    }
    (items,) = zoho.api_requests("items")
    assert items.headers["authorization"] == f"Zoho-oauthtoken {ACCESS_TOKENS[0]}"
    assert items.query == {
        "organization_id": ORG_ID,
        "last_modified_time": "2025-03-01T00:00:00+0000",
        "page": "1",
        "per_page": "200",
    }
    assert [r.path for r in zoho.requests] == ["/oauth/v2/token", "/books/v3/items"]
    assert "products: seen 1, missing 1, stale 0, queued 1" in out
    assert_no_secrets(out + capsys.readouterr().err)


def test_a_401_refreshes_the_token_once_and_retries(zoho, capsys):
    zoho.pages["items"] = [[fixture("item")]]
    zoho.unauthorized_once.add("items")
    run(capsys, "--entity", "products")
    assert len(zoho.token_requests) == 2
    first, second = zoho.api_requests("items")
    assert first.headers["authorization"] == f"Zoho-oauthtoken {ACCESS_TOKENS[0]}"
    assert second.headers["authorization"] == f"Zoho-oauthtoken {ACCESS_TOKENS[1]}"
    assert QueueEntry.objects.count() == 1


def test_pages_are_followed_until_has_more_page_is_false(zoho, capsys):
    zoho.pages["items"] = [
        [variant("item", item_id=str(1000 + n)) for n in range(3)],
        [variant("item", item_id=str(2000 + n)) for n in range(2)],
    ]
    out = run(capsys, "--entity", "products")
    assert [r.query["page"] for r in zoho.api_requests("items")] == ["1", "2"]
    assert "products: seen 5, missing 5, stale 0, queued 5" in out
    assert sorted(QueueEntry.objects.values_list("record_id", flat=True)) == [
        "1000",
        "1001",
        "1002",
        "2000",
        "2001",
    ]


def test_a_429_waits_for_retry_after_then_retries(zoho, capsys):
    zoho.pages["items"] = [[fixture("item")]]
    zoho.rate_limited_once.add("items")
    run(capsys, "--entity", "products")
    limited, retried = zoho.api_requests("items")
    assert retried.at - limited.at >= 1.0
    assert QueueEntry.objects.count() == 1


def test_retry_after_is_bounded():
    assert zoho_api.retry_after_seconds("1") == 1.0
    assert zoho_api.retry_after_seconds("100000") == zoho_api.MAX_RETRY_AFTER_SECONDS
    assert zoho_api.retry_after_seconds("-5") == 0.0
    assert zoho_api.retry_after_seconds(None) == zoho_api.DEFAULT_RETRY_AFTER_SECONDS
    assert zoho_api.retry_after_seconds("soon") == zoho_api.DEFAULT_RETRY_AFTER_SECONDS


# --- comparing with the ERP and queueing -----------------------------------------------


def test_missing_stale_and_up_to_date_records_are_told_apart(zoho, capsys):
    current = fixture("item")
    older = variant("item", item_id="3001", last_modified_time="2025-01-01T10:00:00+0300")
    never_stamped = variant("item", item_id="3002", last_modified_time="")
    for record in (current, older, never_stamped):
        prefill("products", record)
    newer = variant("item", item_id="3001", rate=99, last_modified_time="2025-03-01T10:00:00+0300")
    stamped_now = variant("item", item_id="3002", last_modified_time="2025-03-02T10:00:00+0300")
    new = variant("item", item_id="3003")
    # Same instant in another offset: up to date, not stale.
    same_instant = variant("item", last_modified_time="2025-02-11T06:14:27+0000")
    zoho.pages["items"] = [[same_instant, newer, stamped_now, new]]

    out = run(capsys, "--entity", "products")

    assert "products: seen 4, missing 1, stale 2, queued 3, up to date 1" in out
    entries = {e.record_id: e for e in QueueEntry.objects.all()}
    assert sorted(entries) == ["3001", "3002", "3003"]
    for entry in entries.values():
        assert (entry.source, entry.entity, entry.operation) == (
            "reconciliation",
            "products",
            "update",
        )
        assert entry.status == Status.PENDING
    assert entries["3001"].payload == newer
    assert zoho.drains == [1]
    assert Product.objects.get(zoho_id="3001").rate == 18500  # the worker applies, not us


def test_contacts_are_read_once_and_queued_as_customers_or_vendors(zoho, capsys):
    zoho.pages["contacts"] = [[fixture("contact_customer"), fixture("contact_vendor")]]
    out = run(capsys, "--entity", "contacts")
    assert len(zoho.api_requests("contacts")) == 1
    assert "customers: seen 1, missing 1" in out
    assert "vendors: seen 1, missing 1" in out
    queued = dict(QueueEntry.objects.values_list("record_id", "entity"))
    assert queued == {
        fixture("contact_customer")["contact_id"]: "customers",
        fixture("contact_vendor")["contact_id"]: "vendors",
    }
    assert set(QueueEntry.objects.values_list("source", flat=True)) == {"reconciliation"}


def test_only_vendors_when_asked_for_vendors(zoho, capsys):
    zoho.pages["contacts"] = [[fixture("contact_customer"), fixture("contact_vendor")]]
    out = run(capsys, "--entity", "vendors")
    assert "customers" not in out
    assert list(QueueEntry.objects.values_list("entity", flat=True)) == ["vendors"]
    assert list(ReconciliationRun.objects.values_list("entity", flat=True)) == ["vendors"]


def test_documents_are_queued_in_full_with_their_lines(zoho, capsys):
    invoice = fixture("invoice")
    short = {k: v for k, v in invoice.items() if k != "line_items"}  # list endpoints
    zoho.pages["invoices"] = [[short]]
    zoho.details[f"invoices/{invoice['invoice_id']}"] = {"invoice": invoice}
    run(capsys, "--entity", "invoices")
    (entry,) = QueueEntry.objects.all()
    assert entry.payload == invoice
    assert len(entry.payload["line_items"]) == 2


def test_queued_records_apply_through_the_worker(zoho, capsys):
    from syncqueue.processing import drain

    zoho.pages["contacts"] = [[fixture("contact_customer"), fixture("contact_vendor")]]
    run(capsys, "--entity", "contacts")
    assert drain(budget_seconds=10) == 2
    assert Customer.objects.filter(zoho_id=fixture("contact_customer")["contact_id"]).exists()
    assert Vendor.objects.filter(zoho_id=fixture("contact_vendor")["contact_id"]).exists()


def test_back_to_back_runs_do_not_queue_the_same_version_twice(zoho, capsys):
    zoho.pages["items"] = [[fixture("item")]]
    run(capsys, "--entity", "products", "--since", "2025-01-01")
    out = run(capsys, "--entity", "products", "--since", "2025-01-01")
    assert "products: seen 1, missing 1, stale 0, queued 0" in out
    assert QueueEntry.objects.count() == 1
    # A newer version in Zoho is queued even though the older one still waits.
    zoho.pages["items"] = [[variant("item", last_modified_time="2025-03-09T10:00:00+0300")]]
    run(capsys, "--entity", "products", "--since", "2025-01-01")
    assert QueueEntry.objects.count() == 2
    # Once the first entries are done, the same version is queued again if still missing.
    QueueEntry.objects.update(status=Status.COMPLETED)
    run(capsys, "--entity", "products", "--since", "2025-01-01")
    assert QueueEntry.objects.count() == 3


def test_dry_run_changes_nothing(zoho, capsys):
    prefill("products", variant("item", last_modified_time="2025-01-01T10:00:00+0300"))
    zoho.pages["items"] = [[fixture("item"), variant("item", item_id="3003")]]
    out = run(capsys, "--entity", "products", "--dry-run")
    assert "Dry run" in out
    assert "products: seen 2, missing 1, stale 1, would queue 2" in out
    assert QueueEntry.objects.count() == 0
    assert ReconciliationRun.objects.count() == 0
    assert zoho.drains == []


def test_a_broker_failure_does_not_fail_the_run(zoho, capsys, monkeypatch):
    def broken(count: int) -> None:
        raise ConnectionError("broker down")

    monkeypatch.setattr(reconcile_module.dispatch, "enqueue_drains", broken)
    zoho.pages["items"] = [[fixture("item")]]
    out = run(capsys, "--entity", "products")
    assert "queued 1" in out
    assert QueueEntry.objects.count() == 1


# --- since -----------------------------------------------------------------------------


def test_first_run_reads_24_hours_then_each_run_starts_at_the_last_good_start(zoho, capsys):
    before = timezone.now()
    out = run(capsys, "--entity", "products")
    assert "last 24 hours" in out
    first_since = datetime.strptime(
        zoho.api_requests("items")[0].query["last_modified_time"], "%Y-%m-%dT%H:%M:%S%z"
    )
    assert abs(first_since - (before - timedelta(hours=24))) < timedelta(seconds=5)
    (first_run,) = ReconciliationRun.objects.all()
    assert first_run.succeeded and first_run.finished_at is not None

    out = run(capsys, "--entity", "products")
    assert "last successful run" in out
    second = zoho.api_requests("items")[1].query["last_modified_time"]
    overlapped = first_run.started_at - CLOCK_SKEW_MARGIN
    assert second == overlapped.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    assert second != zoho.api_requests("items")[0].query["last_modified_time"]


def test_a_failed_run_does_not_move_since(zoho, capsys):
    run(capsys, "--entity", "products", "--since", "2025-02-01T12:30:00+03:00")
    good = ReconciliationRun.objects.get()
    zoho.failing["items"] = 500
    with pytest.raises(CommandError):
        run(capsys, "--entity", "products")
    del zoho.failing["items"]
    run(capsys, "--entity", "products")
    last = zoho.api_requests("items")[-1].query["last_modified_time"]
    overlapped = good.started_at - CLOCK_SKEW_MARGIN
    assert last == overlapped.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S+0000")
    first = zoho.api_requests("items")[0].query["last_modified_time"]
    assert first == "2025-02-01T09:30:00+0000"


# --- errors ------------------------------------------------------------------------------


def test_a_failing_entity_does_not_stop_the_others(zoho, capsys):
    zoho.failing["invoices"] = 500
    zoho.pages["items"] = [[fixture("item")]]
    zoho.pages["bills"] = [[fixture("bill")]]
    zoho.details[f"bills/{fixture('bill')['bill_id']}"] = {"bill": fixture("bill")}
    with pytest.raises(CommandError, match=r"failed for: invoices$"):
        call_command("tds_reconcile")
    out = capsys.readouterr().out
    assert "invoices: FAILED" in out and "HTTP 500" in out
    assert len(zoho.api_requests("invoices")) == zoho_api.MAX_ATTEMPTS
    for path in ALL_PATHS:
        assert zoho.api_requests(path), path
    assert set(QueueEntry.objects.values_list("entity", flat=True)) == {"products", "bills"}
    runs = dict(ReconciliationRun.objects.values_list("entity", "succeeded"))
    assert runs.pop("invoices") is False
    assert all(runs.values()) and len(runs) == 9
    assert not Invoice.objects.exists()


def test_an_unexpected_error_fails_only_its_entity(zoho, capsys, monkeypatch):
    original = reconcile_module._classify

    def classify(mapping, candidates, summary):
        if mapping.entity == "products":
            raise RuntimeError("boom")
        return original(mapping, candidates, summary)

    monkeypatch.setattr(reconcile_module, "_classify", classify)
    zoho.pages["items"] = [[fixture("item")]]
    zoho.pages["contacts"] = [[fixture("contact_customer")]]
    with pytest.raises(CommandError, match=r"failed for: products$"):
        call_command("tds_reconcile")
    assert "products: FAILED" in capsys.readouterr().out
    assert list(QueueEntry.objects.values_list("entity", flat=True)) == ["customers"]
    assert not ReconciliationRun.objects.filter(finished_at__isnull=True).exists()


@pytest.mark.parametrize(
    "unset",
    [
        ("ZOHO_CLIENT_SECRET",),
        ("ZOHO_CLIENT_ID", "ZOHO_REFRESH_TOKEN"),
        ("ZOHO_ORGANIZATION_ID",),
    ],
)
def test_missing_credentials_turn_reconciliation_off(zoho, settings, unset):
    for name in unset:
        setattr(settings, name, None)
    with pytest.raises(CommandError) as raised:
        call_command("tds_reconcile")
    message = str(raised.value)
    assert "\n" not in message
    for name in zoho_api.CREDENTIAL_SETTINGS:
        assert (name in message) == (name in unset)
    assert zoho.requests == []


def test_refused_credentials_stop_before_any_entity(zoho):
    zoho.refresh_error = "invalid_code"
    with pytest.raises(CommandError, match="invalid_code") as raised:
        call_command("tds_reconcile")
    assert_no_secrets(str(raised.value))
    assert [r.path for r in zoho.requests] == ["/oauth/v2/token"]
    assert ReconciliationRun.objects.count() == 0


@pytest.mark.parametrize(
    ("args", "named"),
    [
        (["--since", "yesterday"], "--since"),
        (["--since", "2025-13-01"], "--since"),
        (["--since", "2999-01-01"], "--since"),
        (["--entity", "widgets"], "--entity"),
        (["--entity", "contact"], "--entity"),
    ],
)
def test_bad_arguments_name_the_argument(zoho, args, named):
    with pytest.raises(CommandError, match=rf"^{named}"):
        call_command("tds_reconcile", *args)
    assert zoho.requests == []


# --- the schedule ------------------------------------------------------------------------


def test_the_schedule_exists_only_with_credentials(zoho, settings):
    from django_q.models import Schedule

    ensure_reconcile_schedule()
    ensure_reconcile_schedule()
    (schedule,) = Schedule.objects.filter(name=SCHEDULE_NAME)
    assert schedule.func == "reconciliation.reconcile.scheduled_reconcile"
    assert schedule.schedule_type == Schedule.HOURLY

    settings.ZOHO_REFRESH_TOKEN = None
    ensure_reconcile_schedule()
    assert not Schedule.objects.filter(name=SCHEDULE_NAME).exists()


def test_the_schedule_of_an_older_release_is_replaced(zoho):
    """Before the reconciliation app, the schedule had another name and task path; left
    alone, the worker would keep calling a task that no longer exists."""
    from django_q.models import Schedule

    Schedule.objects.create(
        name=FORMER_SCHEDULE_NAME,
        func="inbox.reconcile.scheduled_reconcile",
        schedule_type=Schedule.HOURLY,
        repeats=-1,
    )
    ensure_reconcile_schedule()
    assert list(
        Schedule.objects.filter(func__contains="reconcile").values_list("name", "func")
    ) == [(SCHEDULE_NAME, "reconciliation.reconcile.scheduled_reconcile")]


def test_the_scheduled_task_reconciles_everything_once_at_a_time(zoho):
    zoho.pages["items"] = [[fixture("item")]]
    assert reconcile_module.scheduled_reconcile() == "queued 1"
    assert ReconciliationRun.objects.filter(succeeded=True).count() == 10
    ReconciliationRunFactory(entity="products")  # running
    assert reconcile_module.scheduled_reconcile().startswith("skipped")


def test_operators_see_the_runs_in_the_console(zoho, admin_client):
    zoho.pages["items"] = [[fixture("item")]]
    call_command("tds_reconcile", "--entity", "products")
    page = admin_client.get("/admin/reconciliation/reconciliationrun/").content.decode()
    assert "products" in page
    assert "1 reconciliation run" in page


# --- the daily API budget ----------------------------------------------------------------


def test_the_budget_running_out_stops_the_run_with_one_line(zoho, capsys, settings, caplog):
    settings.ZOHO_API_DAILY_BUDGET = 1
    zoho.pages["items"] = [[fixture("item")]]
    zoho.pages["contacts"] = [[fixture("contact_customer")]]
    with pytest.raises(CommandError) as stopped:
        call_command("tds_reconcile")
    message = str(stopped.value)
    assert message.startswith("reconciliation stopped at customers: the Zoho API budget")
    assert message.endswith(
        "not reached: invoices, bills, credit-notes, sales-orders, payments, "
        "stock-adjustments, price-lists"
    )
    out = capsys.readouterr().out
    assert "products: seen 1, missing 1, stale 0, queued 1" in out
    assert "customers: FAILED" in out and "vendors: FAILED" in out
    assert [r.path for r in zoho.books_requests()] == ["/books/v3/items"]
    assert not [r for r in caplog.records if r.exc_info]
    runs = dict(ReconciliationRun.objects.values_list("entity", "succeeded"))
    assert runs == {"products": True, "customers": False, "vendors": False}
    # Spent for today: the hourly task does not even ask Zoho for a token.
    assert reconcile_module.scheduled_reconcile() == "skipped: today's Zoho API budget is used up"
    assert len(zoho.token_requests) == 1
