"""`python -m decisioning.signals.check`: validate SIGNAL_PROVIDERS before a deploy.

Builds the registry exactly as the first decision would (so a missing credential variable or a
bad schema fails here, not on the first application) and prints what each signal will use —
never a credential.
"""

from __future__ import annotations

import os
import sys


def main() -> int:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    import django

    django.setup()
    from django.conf import settings

    from decisioning.signals.registry import registry

    reg = registry()
    print(
        f"signal budget {settings.SIGNALS_TIME_BUDGET_MS} ms, worker pool {reg.max_workers if reg.executor else 0}"
    )
    for name, policy in reg.providers.items():
        p = policy.provider
        limit = policy.rate_limit
        print(
            f"{name:9} {p.name} {p.version} ({type(p).__name__}) required={policy.required} "
            f"cache_ttl={policy.cache_ttl_seconds}s "
            f"rate_limit={f'{limit.max_pulls}/{limit.window_seconds}s' if limit else 'none'}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
