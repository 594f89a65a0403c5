"""Queued records keep every digit: the encoder's quick path agrees with its exact check."""

from __future__ import annotations

import json
import random
from decimal import Decimal

from hypothesis import given
from hypothesis import strategies as st

from syncqueue.jsonexact import ExactNumberEncoder


def encoded(value: Decimal) -> str:
    return json.dumps(value, cls=ExactNumberEncoder)


def by_round_trip(value: Decimal) -> str:
    """What the encoder wrote before its quick path: a float only if its repr is exact."""
    if value.is_finite() and Decimal(repr(float(value))) == value:
        return json.dumps(float(value))
    return json.dumps(str(value))


@given(st.decimals(allow_nan=False, allow_infinity=False, places=None))
def test_every_decimal_is_written_as_the_round_trip_check_would(value):
    assert encoded(value) == by_round_trip(value)


def test_money_amounts_of_up_to_fifteen_digits_are_numbers():
    rng = random.Random(7)
    for _ in range(2000):
        digits = rng.randint(1, 15)
        places = rng.randint(0, min(digits, 6))
        unscaled = rng.randrange(10 ** (digits - 1), 10**digits)
        value = Decimal(unscaled).scaleb(-places)
        assert json.loads(encoded(value)) == float(value)
        assert Decimal(repr(json.loads(encoded(value)))) == value


def test_what_a_float_would_round_is_kept_as_text():
    assert encoded(Decimal("12345678901234567.89")) == '"12345678901234567.89"'
    assert encoded(Decimal("1E-400")) == '"1E-400"'
    assert encoded(Decimal("NaN")) == '"NaN"'
