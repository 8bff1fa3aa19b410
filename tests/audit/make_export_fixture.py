"""Load a large, realistic set of decisions into a PostgreSQL database for the export benchmark.

Not a test. PostgreSQL only (the cloning is SQL). Run against your own database:

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/verdict_audit DEBUG=true \\
        VERDICT_VAR_DIR=/tmp/verdict-audit-var \\
        .venv/bin/python tests/audit/make_export_fixture.py --count 1000000 [--fresh]

1. `--fresh` drops and recreates the named database; then `migrate`.
2. Templates: if the database holds fewer than `--templates` decisions made by the pipeline,
   `seed_demo` and `generate_applications --decide --backdate` make them — real decisions through
   `decision_create` (signals, every rule result, features, model score and explanation, review
   case when referred, `decision.created` audit event).
3. Clones: `INSERT … SELECT` from the templates in batches of `--batch`, each clone a template's
   content with a new application (new name, reference and identity hash), new ids, its own
   time (one every ~31 s from 2025-01-01), a review case when the template had one, and its own
   `decision.created` event (payload pointing at the clone's application and case). Ids are
   `md5('bench-dec-' || n)`, so a re-run continues where the last one stopped.
4. Seals the chain with the real sealer (`audit.services.chain_seal`), so every clone's event
   has its position and hash, as in production.

About 1 GB per 100,000 decisions on disk (PostgreSQL, TOAST-compressed JSON).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")

FIRST_NAMES = [
    "Olivia",
    "Amelia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Oliver",
    "George",
    "Noah",
    "Arthur",
    "Leo",
    "Harry",
    "Oscar",
    "Muhammad",
    "Jack",
    "Freya",
    "Grace",
    "Theo",
    "Archie",
]
LAST_NAMES = [
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Robinson",
    "Wright",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Wood",
    "Khan",
]

TEMPLATES_SQL = """
CREATE TEMP TABLE bench_tpl AS
SELECT (row_number() OVER (ORDER BY d.created_at, d.id) - 1) AS k, d.id AS decision_id
FROM decisioning_decision d WHERE d.request_id NOT LIKE 'bench-%%'
"""

APPLICATIONS_SQL = """
INSERT INTO decisioning_application (
    id, client_id, product_id, reference, first_name, last_name, date_of_birth, postcode,
    uk_resident, residential_status, months_at_address, employment_status, months_in_employment,
    annual_income, monthly_expenditure, existing_debt, monthly_debt_payments, dependants,
    requested_amount, term_months, purpose, bankrupt_or_iva, identity_hash, submitted_at)
SELECT md5('bench-app-' || g)::uuid, a.client_id, a.product_id, 'BENCH-' || lpad(g::text, 8, '0'),
    (%(first)s::text[])[1 + g %% 20], (%(last)s::text[])[1 + (g / 20) %% 20], a.date_of_birth,
    a.postcode, a.uk_resident, a.residential_status, a.months_at_address, a.employment_status,
    a.months_in_employment, a.annual_income, a.monthly_expenditure, a.existing_debt,
    a.monthly_debt_payments, a.dependants, a.requested_amount, a.term_months, a.purpose,
    a.bankrupt_or_iva, encode(sha256(('bench-identity-' || g)::bytea), 'hex'),
    timestamptz '2025-01-01 00:00:00+00' + g * interval '31.5 seconds'
FROM generate_series(%(lo)s, %(hi)s) g
JOIN bench_tpl t ON t.k = g %% %(k)s
JOIN decisioning_decision d ON d.id = t.decision_id
JOIN decisioning_application a ON a.id = d.application_id
"""

DECISIONS_SQL = """
INSERT INTO decisioning_decision (
    id, application_id, client_id, product_id, outcome, pd, pd_lower, pd_upper, approved_amount,
    reasons, rule_results, features, signals, explanation, counterfactual, ruleset_version,
    feature_version, model_name, model_version, model_hash, degraded, latency_ms, request_id,
    idempotency_key, request_hash, created_at)
SELECT md5('bench-dec-' || g)::uuid, md5('bench-app-' || g)::uuid, d.client_id, d.product_id,
    d.outcome, d.pd, d.pd_lower, d.pd_upper, d.approved_amount, d.reasons, d.rule_results,
    d.features, d.signals, d.explanation, d.counterfactual, d.ruleset_version, d.feature_version,
    d.model_name, d.model_version, d.model_hash, d.degraded, d.latency_ms, 'bench-' || g, NULL,
    d.request_hash, timestamptz '2025-01-01 00:00:00+00' + g * interval '31.5 seconds'
FROM generate_series(%(lo)s, %(hi)s) g
JOIN bench_tpl t ON t.k = g %% %(k)s
JOIN decisioning_decision d ON d.id = t.decision_id
"""

CASES_SQL = """
INSERT INTO reviews_reviewcase (
    status, priority, due_at, final_outcome, decided_at, version, created_at, decision_id,
    final_reason_codes, is_override, kind, proposed_outcome, rank_at, refer_codes)
SELECT c.status, c.priority, w.ts + (c.due_at - c.created_at), c.final_outcome,
    w.ts + (c.decided_at - c.created_at), c.version, w.ts, md5('bench-dec-' || g)::uuid,
    c.final_reason_codes, c.is_override, c.kind, c.proposed_outcome,
    w.ts + (c.rank_at - c.created_at), c.refer_codes
FROM generate_series(%(lo)s, %(hi)s) g
CROSS JOIN LATERAL (SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '31.5 seconds' AS ts) w
JOIN bench_tpl t ON t.k = g %% %(k)s
JOIN reviews_reviewcase c ON c.decision_id = t.decision_id
"""

EVENTS_SQL = """
INSERT INTO audit_auditevent (
    occurred_at, actor_type, actor_id, actor_display, event_type, subject_type, subject_id,
    payload, correlation_id, prev_hash)
SELECT timestamptz '2025-01-01 00:00:00+00' + g * interval '31.5 seconds', e.actor_type,
    e.actor_id, e.actor_display, e.event_type, 'decision', md5('bench-dec-' || g)::uuid::text,
    jsonb_set(jsonb_set(e.payload, '{application_id}', to_jsonb(md5('bench-app-' || g)::uuid::text)),
              '{review_case_id}', coalesce(to_jsonb(rc.id), 'null'::jsonb)),
    'bench-' || g, ''
FROM generate_series(%(lo)s, %(hi)s) g
JOIN bench_tpl t ON t.k = g %% %(k)s
JOIN audit_auditevent e ON e.subject_type = 'decision' AND e.subject_id = t.decision_id::text
    AND e.event_type = 'decision.created'
LEFT JOIN reviews_reviewcase rc ON rc.decision_id = md5('bench-dec-' || g)::uuid
ORDER BY g
"""


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--count", type=int, default=1_000_000, help="decisions wanted in total")
    parser.add_argument("--templates", type=int, default=2000, help="real pipeline decisions")
    parser.add_argument("--batch", type=int, default=100_000)
    parser.add_argument("--fresh", action="store_true", help="drop and recreate the database")
    args = parser.parse_args()
    url = os.environ.get("DATABASE_URL", "")
    if not url.startswith("postgres"):
        raise SystemExit("DATABASE_URL must name your own PostgreSQL database")
    if args.fresh:
        import psycopg

        base, _, name = url.rpartition("/")
        with psycopg.connect(base + "/postgres", autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}"')
            conn.execute(f'CREATE DATABASE "{name}"')

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection, transaction

    from audit.services import chain_seal
    from decisioning.models import Decision

    call_command("migrate", verbosity=0)
    real = Decision.objects.exclude(request_id__startswith="bench-").count()
    if real < args.templates:
        call_command("seed_demo", verbosity=0)
        call_command(
            "generate_applications",
            count=args.templates - real,
            decide=True,
            backdate=True,
            days=365,
            seed=7,
            verbosity=0,
        )
    t0 = time.perf_counter()
    sealed = chain_seal()
    print(f"sealed {sealed:,} template events in {time.perf_counter() - t0:.1f} s", flush=True)

    with connection.cursor() as cur:
        cur.execute("SET synchronous_commit = off")
        cur.execute(TEMPLATES_SQL)
        cur.execute("SELECT count(*) FROM bench_tpl")
        k = cur.fetchone()[0]
        cur.execute(
            "SELECT coalesce(max(substr(request_id, 7)::bigint), 0) FROM decisioning_decision "
            "WHERE request_id LIKE 'bench-%%'"
        )
        done = cur.fetchone()[0]
    total = Decision.objects.count()
    print(f"{k:,} templates, {total:,} decisions, {done:,} clones so far", flush=True)
    lo = done + 1
    started = time.perf_counter()
    while total < args.count:
        hi = lo + min(args.batch, args.count - total) - 1
        params = {"lo": lo, "hi": hi, "k": k, "first": FIRST_NAMES, "last": LAST_NAMES}
        t = time.perf_counter()
        with transaction.atomic(), connection.cursor() as cur:
            for sql in (APPLICATIONS_SQL, DECISIONS_SQL, CASES_SQL, EVENTS_SQL):
                cur.execute(sql, params)
        inserted = time.perf_counter() - t
        t = time.perf_counter()
        sealed = chain_seal()
        total += hi - lo + 1
        print(
            f"clones {lo:,}-{hi:,}: inserted in {inserted:.1f} s, {sealed:,} events sealed in "
            f"{time.perf_counter() - t:.1f} s; {total:,} decisions "
            f"({time.perf_counter() - started:.0f} s so far)",
            flush=True,
        )
        lo = hi + 1
    with connection.cursor() as cur:
        cur.execute("ANALYZE")
        cur.execute("SELECT pg_size_pretty(pg_database_size(current_database()))")
        print(f"done: {total:,} decisions; database size {cur.fetchone()[0]}", flush=True)


if __name__ == "__main__":
    main()
