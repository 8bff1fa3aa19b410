"""Profile the decision hot path in-process (issue 11): N API calls through Django's test client
against the bench database (run bench/load.py once first), under pyinstrument.

    .venv/bin/python bench/profile_decision.py [--n 300] [--html bench/out/profile.html]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--html", default=str(ROOT / "bench" / "out" / "profile.html"))
    args = parser.parse_args()
    from load import setup_django_on_bench_db

    setup_django_on_bench_db()
    from django.db import connection, reset_queries
    from django.test import Client
    from django.test.utils import CaptureQueriesContext
    from pyinstrument import Profiler

    from decisioning.payloads import request_body
    from modeling.synthetic import generate

    token = (ROOT / "bench" / "out" / "var" / "demo_api_token").read_text().strip()
    now = dt.datetime.now(dt.UTC)
    cases = generate(args.n + 50, seed=int(time.time()), start=now - dt.timedelta(days=1), end=now)
    bodies = [json.dumps(request_body(c.app, product="personal-loan", reference=f"P-{i}")) for i, c in enumerate(cases)]
    client = Client(HTTP_AUTHORIZATION=f"Token {token}", HTTP_HOST="127.0.0.1")
    for body in bodies[:50]:  # warm: model load, compiled policy, connections
        r = client.post("/api/v1/decisions", body, content_type="application/json")
        assert r.status_code == 201, r.content[:500]
    with CaptureQueriesContext(connection) as queries:
        client.post("/api/v1/decisions", bodies[50], content_type="application/json")
    print(f"queries per decision: {len(queries)}")
    for q in queries.captured_queries:
        print(f"  {q['time']}s  {q['sql'][:120]}")
    reset_queries()
    profiler = Profiler(interval=0.0002)
    t0 = time.perf_counter()
    profiler.start()
    for body in bodies[51 : 51 + args.n]:
        client.post("/api/v1/decisions", body, content_type="application/json")
    profiler.stop()
    per = (time.perf_counter() - t0) / args.n * 1000
    print(f"{args.n} decisions, {per:.2f} ms each in-process (profiled)")
    Path(args.html).write_text(profiler.output_html())
    print(profiler.output_text(unicode=False, color=False, show_all=False)[:6000])


if __name__ == "__main__":
    main()
