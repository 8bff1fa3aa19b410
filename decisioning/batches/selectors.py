"""Batch reads, scoped to the caller: an integration client sees its own batches only."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from typing import Any

from config.errors import NotFound
from decisioning.models import Batch, BatchResult, IntegrationClient

RESULT_COLUMNS = (
    "item", "reference", "application_id", "outcome", "pd", "pd_lower", "pd_upper",
    "approved_amount", "reasons", "original_outcome", "original_pd", "flipped", "error",
)
PAGE = 5000


def batch_get(*, batch_id: Any, client: IntegrationClient | None = None) -> Batch:
    """A batch; another client's is "not found", exactly like a missing one."""
    qs = Batch.objects.select_related("product")
    if client is not None:
        qs = qs.filter(client=client)
    try:
        return qs.get(pk=int(batch_id))
    except (Batch.DoesNotExist, ValueError, TypeError) as e:
        raise NotFound("Batch not found.") from e


def batch_list(*, client: IntegrationClient | None = None) -> Any:
    qs = Batch.objects.select_related("product").order_by("-created_at", "-pk")
    return qs.filter(client=client) if client is not None else qs


class _Echo:
    def write(self, value: str) -> str:
        return value


def _fmt(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6f}"
    return value


def results_csv(*, batch: Batch) -> Iterator[str]:
    """The batch's results as CSV lines, read by keyset pages of `item` (memory flat)."""
    writer = csv.writer(_Echo())
    yield writer.writerow(RESULT_COLUMNS)
    fields = [c for c in RESULT_COLUMNS if c != "flipped"]
    after = -1
    while True:
        rows = list(
            BatchResult.objects.filter(batch=batch, item__gt=after).order_by("item").values_list(*fields)[:PAGE]
        )
        if not rows:
            return
        for row in rows:
            d = dict(zip(fields, row, strict=True))
            flipped = "" if not d["original_outcome"] or not d["outcome"] else str(d["original_outcome"] != d["outcome"]).lower()
            yield writer.writerow([_fmt(d.get(c)) if c != "flipped" else flipped for c in RESULT_COLUMNS])
        after = rows[-1][0]
