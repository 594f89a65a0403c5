"""Every test vector of shared/spec/zoho-webhooks.md §4, and what must break them."""

import json
from pathlib import Path

import pytest

from inbox.signatures import canonical_message, sign, verify

VECTORS = json.loads(
    (Path(__file__).resolve().parents[2] / "tests/fixtures/signature_vectors.json").read_text()
)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_canonical_and_signature(vector):
    body = vector["body"].encode("utf-8")
    assert canonical_message(vector["query"], vector["content_type"], body) == vector["canonical"]
    assert (
        sign(vector["secret"], vector["query"], vector["content_type"], body) == vector["signature"]
    )


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_verifies_in_either_case_and_among_rotated_secrets(vector):
    body = vector["body"].encode("utf-8")
    args = (vector["query"], vector["content_type"], body)
    assert verify([vector["secret"]], vector["signature"], *args)
    assert verify([vector["secret"]], vector["signature"].upper(), *args)
    assert verify(["another-secret-1234", vector["secret"]], f" {vector['signature']} ", *args)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_any_change_breaks_the_vector(vector):
    body = vector["body"].encode("utf-8")
    sig, query, ctype = vector["signature"], vector["query"], vector["content_type"]
    assert not verify([vector["secret"] + "x"], sig, query, ctype, body)
    assert not verify([vector["secret"]], sig, query + "&extra=1", ctype, body)
    assert not verify([vector["secret"]], sig, query, ctype, body.replace(b"0", b"1", 1))
    assert not verify([], sig, query, ctype, body)
    assert not verify([vector["secret"]], "", query, ctype, body)


def test_body_that_is_not_utf8_never_verifies():
    assert not verify(["secret-123456"], "00" * 32, "", "application/json", b"\xff\xfe")
