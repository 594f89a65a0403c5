"""Argument checks shared by the operator commands: one clear line naming the argument."""

from __future__ import annotations

import getpass

from django.core.management.base import CommandError


def whole_number(option: str, value: str, minimum: int = 1) -> int:
    try:
        number = int(value)
    except (TypeError, ValueError):
        number = minimum - 1
    if number < minimum:
        raise CommandError(f"{option}: {value!r} is not a whole number >= {minimum}")
    return number


def cli_actor() -> str:
    """Who ran the command, for DeadLetter.replayed_by."""
    try:
        return f"cli:{getpass.getuser()}"[:150]
    except (KeyError, OSError):  # no user name for this uid (some containers)
        return "cli"
