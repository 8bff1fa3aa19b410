"""Variants for `bench/ab_decision.py`: the API throttle asking Redis on every request against
batching its counts far from the limit (issue 11, session 4: -8 to -11 % CPU per decision).

    PYTHONPATH=bench .venv/bin/python bench/ab_decision.py ab_throttle
"""

import decisioning.throttling as throttling


def every_request() -> None:
    throttling.EXACT_ABOVE = 0.0


def batched() -> None:
    throttling.EXACT_ABOVE = 0.5


VARIANTS = {"every-request": every_request, "batched": batched}
