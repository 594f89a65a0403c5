"""The runs of ``tds_reconcile``: what each entity's pass saw and queued."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class ReconciliationRun(models.Model):
    """One entity's pass of ``tds_reconcile``; the last successful start is the next "since"."""

    entity = models.CharField(max_length=32)
    since = models.DateTimeField(help_text="Records changed in Zoho after this were read.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    seen = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True, default="")

    class Meta:
        db_table = "tds_reconciliation_runs"
        verbose_name = "reconciliation run"
        indexes = [
            models.Index(fields=["entity", "succeeded", "started_at"], name="tds_recon_last_ok"),
        ]

    def __str__(self) -> str:
        state = "ok" if self.succeeded else ("failed" if self.finished_at else "running")
        return f"{self.entity} {self.started_at:%Y-%m-%d %H:%M} ({state})"
