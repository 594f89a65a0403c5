"""Template tags of the admin's front page (``templates/admin/index.html``)."""

from __future__ import annotations

from django import template

from metrics.front_page import front_page_figures

register = template.Library()


@register.simple_tag
def front_page() -> dict:
    return front_page_figures()


@register.filter
def duration(seconds: float | None) -> str:
    """1234.5 -> '20m 34s'; None -> 'none pending'."""
    if seconds is None:
        return "none pending"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [
        f"{days}d" if days else "",
        f"{hours}h" if hours else "",
        f"{minutes}m" if minutes else "",
    ]
    text = " ".join(p for p in parts if p)
    return f"{text} {secs}s".strip() if not days else text
