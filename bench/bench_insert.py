"""The decision's three INSERTs (application, decision, audit event): ORM `create()` against
`config.db.insert_new`, interleaved rounds in one transaction that is rolled back.

Reads one stored decision from the load bench's database (run `bench/load.py --smoke` once first):

    .venv/bin/python bench/bench_insert.py [--n 300] [--rounds 6]

Prints CPU (thread time) and wall time per decision, the best round of each.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=6)
    args = parser.parse_args()
    from load import setup_django_on_bench_db

    setup_django_on_bench_db()
    from django.db import transaction

    from audit.models import AuditEvent
    from config.db import insert_new
    from decisioning.models import Application, Decision

    decision = Decision.objects.select_related("application").order_by("-created_at").first()
    event = AuditEvent.objects.filter(event_type="decision.created").last()
    if decision is None or event is None:
        sys.exit("no stored decision: run `bench/load.py --smoke` first")

    def values(obj: object, model: type, skip: set[str]) -> dict[str, object]:
        return {f.attname: getattr(obj, f.attname) for f in model._meta.concrete_fields if f.attname not in skip}

    chain = {"seq", "position", "prev_hash", "hash", "sealed_at"}
    a = values(decision.application, Application, {"id"})
    d = values(decision, Decision, {"id", "application_id", "idempotency_key"})
    e = values(event, AuditEvent, chain)

    def orm() -> None:
        app = Application.objects.create(**a)
        Decision.objects.create(**d, application=app)
        AuditEvent.objects.create(**e)

    def prebuilt() -> None:
        app = Application(**a)
        insert_new(app, Decision(**d, application=app), AuditEvent(**e))

    cpu: dict[str, list[float]] = {"orm": [], "insert_new": []}
    wall: dict[str, list[float]] = {"orm": [], "insert_new": []}
    with transaction.atomic():
        for _ in range(args.rounds):
            for name, fn in (("orm", orm), ("insert_new", prebuilt)):
                c0, w0 = time.thread_time(), time.perf_counter()
                for _ in range(args.n):
                    fn()
                cpu[name].append((time.thread_time() - c0) / args.n * 1000)
                wall[name].append((time.perf_counter() - w0) / args.n * 1000)
        transaction.set_rollback(True)
    for name in cpu:
        print(f"{name:>10}: CPU {min(cpu[name]):.3f} ms, wall {min(wall[name]):.3f} ms per decision (best of {args.rounds})")


if __name__ == "__main__":
    main()
