"""The champion model of each product, loaded once per process and kept.

MLflow is slow to import and to query (~3 s, ~1 s), so it is never on the decision's hot path: the
first decision of a product in a process loads the model; later ones reuse it. A model that cannot
be loaded is remembered as unavailable for a short while (decisions refer; readiness fails) —
there is never a silent fallback to another model.

Promotions take effect without a restart: at most every MODEL_REFRESH_SECONDS a background thread
asks the registry where the alias points; if it moved, it loads the new version and swaps it in.
Decisions keep using the loaded model meanwhile, so the check never adds latency.
"""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from django.conf import settings

logger = logging.getLogger(__name__)

_RETRY_AFTER_S = 30.0


@dataclass
class _Slot:
    scorer: Any | None
    error: str
    loaded_at: float
    checked_at: float = 0.0
    refreshing: bool = False


_lock = threading.Lock()
_slots: dict[tuple[str, str], _Slot] = {}


def _load(product_code: str, alias: str) -> Any:
    from modeling import registry

    return registry.load_model(
        product_code,
        alias=alias,
        tracking_uri=settings.MLFLOW_TRACKING_URI,
    )


def _refresh_seconds() -> float:
    return float(getattr(settings, "MODEL_REFRESH_SECONDS", 15))


def refresh(product_code: str, *, alias: str = "champion") -> bool:
    """Reload the model if the registry alias moved. True if a new version was swapped in."""
    from modeling import registry

    key = (product_code, alias)
    slot = _slots.get(key)
    try:
        current = registry.alias_version(
            product_code, alias=alias, tracking_uri=settings.MLFLOW_TRACKING_URI
        )
        if slot is not None and slot.scorer is not None and slot.scorer.model_version == current:
            return False
        scorer = _load(product_code, alias)
    except Exception as e:  # keep serving what is loaded; the next check tries again
        logger.warning("model refresh %s@%s failed: %s", product_code, alias, e)
        return False
    finally:
        if slot is not None:
            slot.checked_at, slot.refreshing = time.monotonic(), False
    now = time.monotonic()
    with _lock:
        _slots[key] = _Slot(scorer=scorer, error="", loaded_at=now, checked_at=now)
    logger.info("model %s@%s now serves version %s", product_code, alias, scorer.model_version)
    return True


def _maybe_refresh_in_background(key: tuple[str, str], slot: _Slot) -> None:
    if slot.refreshing or time.monotonic() - slot.checked_at < _refresh_seconds():
        return
    with _lock:
        if slot.refreshing:
            return
        slot.refreshing = True
    threading.Thread(target=refresh, args=(key[0],), kwargs={"alias": key[1]}, daemon=True).start()


def get_scorer(product_code: str, *, alias: str = "champion") -> tuple[Any | None, str]:
    """The product's model under `alias`, or None and the reason it is unavailable."""
    key = (product_code, alias)
    slot = _slots.get(key)
    if slot is not None and slot.scorer is not None:
        # Installed scorers (tests, demo) have checked_at 0 and are never refreshed.
        if slot.checked_at and _refresh_seconds() > 0:
            _maybe_refresh_in_background(key, slot)
        return slot.scorer, slot.error
    if slot is not None and time.monotonic() - slot.loaded_at < _RETRY_AFTER_S:
        return slot.scorer, slot.error
    with _lock:
        slot = _slots.get(key)
        if slot is not None and (
            slot.scorer is not None or time.monotonic() - slot.loaded_at < _RETRY_AFTER_S
        ):
            return slot.scorer, slot.error
        try:
            scorer, error = _load(product_code, alias), ""
        except Exception as e:  # any failure to load means "no model", never a crash
            logger.error("model %s@%s unavailable: %s", product_code, alias, e)
            scorer, error = None, f"{type(e).__name__}: {e}"[:300]
        now = time.monotonic()
        _slots[key] = _Slot(scorer=scorer, error=error, loaded_at=now, checked_at=now)
        return scorer, error


def forget(product_code: str | None = None) -> None:
    """Drop cached models (after a promotion, or in tests)."""
    with _lock:
        for key in [k for k in _slots if product_code is None or k[0] == product_code]:
            del _slots[key]


def set_scorer(product_code: str, scorer: Any, *, alias: str = "champion") -> None:
    """Install an already-loaded scorer (used by the demo loader and tests)."""
    with _lock:
        _slots[(product_code, alias)] = _Slot(scorer=scorer, error="", loaded_at=time.monotonic())


# ---- exact versions (replay) --------------------------------------------------------------------

def _version_key(version: str) -> str:
    return f"version:{version}"


def get_scorer_version(product_code: str, version: str) -> tuple[Any | None, str]:
    """That exact registered version of the product's model (for replaying old decisions),
    loaded once per process and kept; None and the reason if it cannot be loaded."""
    key = (product_code, _version_key(version))
    slot = _slots.get(key)
    if slot is not None and slot.scorer is not None:
        return slot.scorer, slot.error
    with _lock:
        slot = _slots.get(key)
        if slot is not None and slot.scorer is not None:
            return slot.scorer, slot.error
        from modeling import registry

        try:
            scorer, error = (
                registry.load_model(product_code, version=version, tracking_uri=settings.MLFLOW_TRACKING_URI),
                "",
            )
        except Exception as e:  # not registered, artefact missing, hash mismatch
            logger.error("model %s v%s unavailable: %s", product_code, version, e)
            scorer, error = None, f"{type(e).__name__}: {e}"[:300]
        _slots[key] = _Slot(scorer=scorer, error=error, loaded_at=time.monotonic())
        return scorer, error


def set_scorer_version(product_code: str, version: str, scorer: Any) -> None:
    """Install an already-loaded scorer as that exact version (tests, the demo loader)."""
    with _lock:
        _slots[(product_code, _version_key(version))] = _Slot(scorer=scorer, error="", loaded_at=time.monotonic())
