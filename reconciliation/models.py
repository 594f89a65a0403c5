"""Reconciliation's bookkeeping: the runs of ``tds_reconcile``, the first import's progress
per module, and the Zoho API calls spent per day."""

from __future__ import annotations

from django.db import models
from django.utils import timezone


class RunKind(models.TextChoices):
    CHANGES = "changes", "records changed since the last run"
    DELETIONS = "deletions", "ids deleted in Zoho"


class ReconciliationRun(models.Model):
    """One entity's pass of ``tds_reconcile``; the last successful start is the next "since"."""

    entity = models.CharField(max_length=32)
    kind = models.CharField(
        max_length=16, choices=RunKind.choices, default=RunKind.CHANGES, db_default=RunKind.CHANGES
    )
    since = models.DateTimeField(help_text="Records changed in Zoho after this were read.")
    started_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)
    succeeded = models.BooleanField(default=False)
    seen = models.PositiveIntegerField(default=0)
    missing = models.PositiveIntegerField(default=0)
    stale = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(
        default=0, db_default=0, help_text="Deletions pass: ERP records gone from Zoho, queued."
    )
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
        return f"{self.entity} {self.kind} {self.started_at:%Y-%m-%d %H:%M} ({state})"


class ImportCheckpoint(models.Model):
    """How far ``tds_import`` got in one Zoho module; written in the transaction that queues
    each page, so a crashed import continues at the first page not yet queued."""

    module = models.CharField(max_length=32, unique=True)
    next_page = models.PositiveIntegerField(default=1)
    pages_done = models.PositiveIntegerField(default=0)
    records_seen = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    started_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(default=timezone.now)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        db_table = "tds_import_checkpoints"
        verbose_name = "import checkpoint"

    def __str__(self) -> str:
        state = "done" if self.finished_at else f"next page {self.next_page}"
        return f"{self.module} ({state})"


class ApiUsage(models.Model):
    """Zoho Books API calls sent on one UTC day, by every process (``reconciliation.budget``)."""

    day = models.DateField(primary_key=True)
    used = models.PositiveIntegerField(default=0)

    class Meta:
        db_table = "tds_zoho_api_usage"
        verbose_name = "Zoho API usage"
        verbose_name_plural = "Zoho API usage"

    def __str__(self) -> str:
        return f"{self.day}: {self.used} calls"
