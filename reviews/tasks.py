"""Telling integrations the final outcome of a reviewed application: a signed webhook POST.

Signature (documented in docs/reviews.md):
    X-Verdict-Timestamp: <unix seconds>
    X-Verdict-Signature: sha256=<hex HMAC-SHA256(webhook_secret, "<timestamp>." + body)>
Binding the timestamp into the MAC lets the receiver refuse replays older than a few minutes.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from typing import Any

from celery import shared_task
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from reviews.models import WebhookDelivery

log = logging.getLogger(__name__)

TIMEOUT_S = 5
MAX_RETRIES = 6
BACKOFF_BASE_S = 10  # 10 s, 20 s, 40 s … (capped) between attempts
BACKOFF_CAP_S = 600


class TransientDeliveryError(Exception):
    """The receiver could not take it now (5xx, 429, network): try again later."""


def sign(*, secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def webhook_attempt(*, delivery_id: str) -> WebhookDelivery | None:
    """One delivery attempt; idempotent. Returns None when there is nothing (left) to send."""
    delivery = (
        WebhookDelivery.objects.select_related("case__decision__client")
        .filter(pk=delivery_id, status=WebhookDelivery.Status.PENDING)
        .first()
    )
    if delivery is None:
        return None
    client = delivery.case.decision.client
    body = json.dumps(
        {**delivery.payload, "delivery_id": str(delivery.pk)}, sort_keys=True, separators=(",", ":")
    ).encode()
    timestamp = str(int(time.time()))
    request = urllib.request.Request(  # noqa: S310 — the URL is an admin-configured http(s) URLField
        delivery.url,
        data=body,
        method="POST",
        headers={
            "Content-Type": "application/json",
            "User-Agent": "Verdict-Webhooks/1",
            "X-Verdict-Event": str(delivery.payload.get("event", "")),
            "X-Verdict-Delivery": str(delivery.pk),
            "X-Verdict-Timestamp": timestamp,
            "X-Verdict-Signature": sign(
                secret=client.webhook_secret, timestamp=timestamp, body=body
            ),
        },
    )
    WebhookDelivery.objects.filter(pk=delivery.pk).update(attempts=F("attempts") + 1)
    status: int | None = None
    error = ""
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:  # noqa: S310
            status = response.status
    except urllib.error.HTTPError as e:
        status, error = e.code, f"HTTP {e.code}"
    except (urllib.error.URLError, TimeoutError, OSError) as e:
        error = f"{type(e).__name__}: {e}"[:500]
    if status is not None and 200 <= status < 300:
        WebhookDelivery.objects.filter(
            pk=delivery.pk, status=WebhookDelivery.Status.PENDING
        ).update(
            status=WebhookDelivery.Status.DELIVERED,
            delivered_at=timezone.now(),
            last_status_code=status,
            last_error="",
        )
        delivery.refresh_from_db()
        return delivery
    WebhookDelivery.objects.filter(pk=delivery.pk).update(last_status_code=status, last_error=error)
    if status is None or status >= 500 or status == 429:
        raise TransientDeliveryError(error or f"HTTP {status}")
    # Any other 4xx is the receiver saying no (bad signature, unknown URL): retrying will not help.
    WebhookDelivery.objects.filter(pk=delivery.pk).update(status=WebhookDelivery.Status.FAILED)
    delivery.refresh_from_db()
    return delivery


def _give_up(delivery_id: str) -> None:
    with transaction.atomic():
        WebhookDelivery.objects.filter(
            pk=delivery_id, status=WebhookDelivery.Status.PENDING
        ).update(status=WebhookDelivery.Status.FAILED)


@shared_task(bind=True, max_retries=MAX_RETRIES, acks_late=True)
def deliver_webhook(self: Any, delivery_id: str) -> str:
    """Adapter: one attempt; on a transient failure, retry with exponential backoff."""
    try:
        delivery = webhook_attempt(delivery_id=delivery_id)
    except TransientDeliveryError as exc:
        if self.request.retries >= MAX_RETRIES:
            _give_up(delivery_id)
            log.warning(
                "webhook %s failed after %s attempts: %s",
                delivery_id,
                self.request.retries + 1,
                exc,
            )
            return "failed"
        countdown = min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**self.request.retries)
        if self.request.is_eager:
            # Eager (no broker: demo and tests): Celery runs the retry at once, in this process;
            # `throw=False` hands it back to `apply()` instead of propagating `Retry` as an error.
            return self.retry(exc=exc, countdown=countdown, throw=False)  # type: ignore[no-any-return]
        raise self.retry(exc=exc, countdown=countdown) from exc
    return delivery.status if delivery else "nothing-to-send"


#: A delivery never attempted this long after it was queued lost its task (the broker was down at
#: commit, or restarted empty): the sweep queues it again.
SWEEP_AFTER_S = 120
#: Longer than a whole retry chain: a delivery still pending after this lost its retry task.
RETRY_CHAIN_S = sum(min(BACKOFF_CAP_S, BACKOFF_BASE_S * 2**n) for n in range(MAX_RETRIES)) + (
    MAX_RETRIES + 1
) * TIMEOUT_S


@shared_task(name="reviews.webhook_sweep")
def webhook_sweep() -> int:
    """Beat (CELERY_BEAT_SCHEDULE): the outbox relay for deliveries whose task was lost. The
    pending row is written with the case, so losing the Celery message loses nothing: this queues
    it again. A delivery that has used up its attempts is marked failed instead, so a receiver that
    keeps failing is not retried for ever. Returns how many were queued."""
    import datetime as dt

    from django.db.models import Q

    now = timezone.now()
    pending = WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING)
    stale = pending.filter(
        Q(attempts=0, created_at__lt=now - dt.timedelta(seconds=SWEEP_AFTER_S))
        | Q(created_at__lt=now - dt.timedelta(seconds=RETRY_CHAIN_S + SWEEP_AFTER_S))
    )
    exhausted = stale.filter(attempts__gt=MAX_RETRIES)
    for delivery_id in exhausted.values_list("pk", flat=True):
        _give_up(str(delivery_id))
    ids = [str(pk) for pk in stale.filter(attempts__lte=MAX_RETRIES).values_list("pk", flat=True)[:500]]
    for delivery_id in ids:
        deliver_webhook.delay(delivery_id)
    return len(ids)
