"""The training baseline of a model version: from the local copy, else from the registry once."""

from __future__ import annotations

import json
import logging
import tempfile
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone

from decisioning.models import Product
from monitoring.models import Baseline

logger = logging.getLogger(__name__)


def _registry_profile(product_code: str, model_version: str) -> tuple[dict[str, Any], str]:
    """`profile.json` logged with that exact registered version (not whatever an alias says now:
    decisions made by version 3 are compared with version 3's training data)."""
    from modeling import registry

    mlflow = registry._mlflow()
    client = registry._client(settings.MLFLOW_TRACKING_URI)
    mv = client.get_model_version(registry.model_name(product_code), model_version)
    with tempfile.TemporaryDirectory() as tmp:
        path = mlflow.artifacts.download_artifacts(
            run_id=mv.run_id, artifact_path=f"{registry.META_PATH}/profile.json", dst_path=tmp
        )
        return dict(json.loads(Path(path).read_text())), f"mlflow run {mv.run_id}"


def baseline_get(*, product: Product, model_version: str) -> dict[str, Any] | None:
    """The frozen profile of `model_version`, or None when neither the copy nor the registry has it."""
    row = Baseline.objects.filter(product=product, model_version=model_version).first()
    if row is not None:
        return dict(row.profile)
    try:
        profile, source = _registry_profile(product.code, model_version)
    except Exception as e:  # registry down, version unknown, run without a profile
        logger.warning("no baseline for %s v%s: %s", product.code, model_version, e)
        return None
    return baseline_store(product=product, model_version=model_version, profile=profile, source=source)


def baseline_store(*, product: Product, model_version: str, profile: dict[str, Any], source: str) -> dict[str, Any]:
    """Keep the profile of a version (first writer wins: a baseline never changes)."""
    try:
        with transaction.atomic():
            row, _ = Baseline.objects.get_or_create(
                product=product, model_version=model_version,
                defaults={"profile": profile, "source": source[:200], "fetched_at": timezone.now()},
            )
    except IntegrityError:
        row = Baseline.objects.get(product=product, model_version=model_version)
    return dict(row.profile)
