"""tds_send_webhook against a live gunicorn: signed, token, form; bad arguments."""

from __future__ import annotations

import pytest
from django.core.management import CommandError, call_command

from inbox.models import AuthMethod, InboxEvent
from tests.live import live_api
from tests.support import FIXTURES, SECRET, TOKEN


@pytest.mark.e2e
@pytest.mark.django_db(transaction=True)
def test_sends_signed_token_and_form_webhooks(tmp_path, capsys):
    invoice = str(FIXTURES / "invoice.json")
    with live_api(tmp_path) as base:
        url = f"{base}/webhooks/zoho/invoices/?organization_id=60012345678"
        call_command("tds_send_webhook", "invoices", invoice, url=url, secret=SECRET)
        assert capsys.readouterr().out.startswith("202 Accepted")
        call_command("tds_send_webhook", "invoices", invoice, url=url, secret=SECRET)
        assert '"duplicate":true' in capsys.readouterr().out.replace(" ", "")
        customer = str(FIXTURES / "contact_customer.json")
        call_command(
            "tds_send_webhook",
            "contacts",
            customer,
            url=f"{base}/webhooks/zoho/contacts",
            secret=SECRET,
            form=True,
            event="contact.updated",
        )
        assert capsys.readouterr().out.startswith("202")
        call_command(
            "tds_send_webhook",
            "products",
            str(FIXTURES / "item.json"),
            url=f"{base}/webhooks/zoho/products",
            token=TOKEN,
        )
        with pytest.raises(CommandError, match="401"):
            call_command(
                "tds_send_webhook",
                "bills",
                str(FIXTURES / "bill.json"),
                url=f"{base}/webhooks/zoho/bills",
                secret="not-the-secret",
            )
    methods = dict(InboxEvent.objects.values_list("entity", "auth_method"))
    assert methods == {
        "invoices": AuthMethod.SIGNATURE,
        "customers": AuthMethod.SIGNATURE,
        "products": AuthMethod.TOKEN,
    }


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["widgets", str(FIXTURES / "item.json")], "entity"),
        (["products", "/nonexistent.json"], "payload"),
        (["products", str(FIXTURES / "item.json")], "--url"),
    ],
)
def test_bad_arguments_name_themselves(args, message):
    with pytest.raises(CommandError, match=message):
        call_command("tds_send_webhook", *args, url="ftp://example")
