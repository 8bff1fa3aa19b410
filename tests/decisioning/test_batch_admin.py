"""Starting and watching batches in the admin, and `manage.py run_batch`."""

from __future__ import annotations

import io
from typing import Any

import pytest
from django.core.management import call_command
from django.test import Client

from decisioning.models import Batch, BatchResult

pytestmark = pytest.mark.django_db


def logged_in(user: Any) -> Client:
    c = Client()
    c.force_login(user)
    return c


def test_it_lets_an_analyst_start_and_watch_a_batch(product: Any, analyst: Any, django_capture_on_commit_callbacks: Any) -> None:
    c = logged_in(analyst)
    assert c.get("/admin/decisioning/batch/add/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        r = c.post("/admin/decisioning/batch/add/", {"product": product.pk, "source": "generated", "count": 150, "seed": 1, "chunk_size": 100})
    assert r.status_code == 302, r.content[:2000]
    batch = Batch.objects.get()
    assert batch.requested_by == analyst and batch.status == "done"
    page = c.get(r["Location"])
    assert page.status_code == 200
    assert b"<progress" in page.content and b"Download results" in page.content
    csv = c.get(f"/admin/decisioning/batch/{batch.pk}/results.csv")
    assert csv.status_code == 200 and len(b"".join(csv.streaming_content).splitlines()) == 151


def test_it_refreshes_the_page_while_a_batch_runs(product: Any, analyst: Any) -> None:
    c = logged_in(analyst)
    c.post("/admin/decisioning/batch/add/", {"product": product.pk, "source": "generated", "count": 150, "seed": 1, "chunk_size": 100})
    batch = Batch.objects.get()  # on_commit not run: still queued
    page = c.get(f"/admin/decisioning/batch/{batch.pk}/change/")
    assert b'http-equiv="refresh"' in page.content


def test_it_shows_form_errors(product: Any, analyst: Any) -> None:
    r = logged_in(analyst).post("/admin/decisioning/batch/add/", {"product": product.pk, "source": "generated", "seed": 1, "chunk_size": 100})
    assert r.status_code == 200 and b"Between 1 and" in r.content
    assert not Batch.objects.exists()


def test_it_lets_an_auditor_look_but_not_start(product: Any, auditor: Any, analyst: Any) -> None:
    logged_in(analyst).post("/admin/decisioning/batch/add/", {"product": product.pk, "source": "generated", "count": 10, "seed": 1, "chunk_size": 100})
    c = logged_in(auditor)
    assert c.get("/admin/decisioning/batch/").status_code == 200
    assert c.get(f"/admin/decisioning/batch/{Batch.objects.get().pk}/change/").status_code == 200
    assert c.get("/admin/decisioning/batch/add/").status_code == 403


def test_it_keeps_outsiders_out(product: Any, outsider: Any) -> None:
    assert Client().get("/admin/decisioning/batch/").status_code == 302  # to the login page
    outsider.is_staff = True
    outsider.save()
    assert logged_in(outsider).get("/admin/decisioning/batch/").status_code == 403


def test_it_runs_a_batch_from_the_command_line(product: Any) -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("run_batch", "--generated", "300", "--chunk-size", "100", "--nice", "0", stdout=out, stderr=err)
    batch = Batch.objects.get()
    assert batch.status == "done" and BatchResult.objects.filter(batch=batch).count() == 300
    assert "Throughput:" in out.getvalue() and "300" in err.getvalue()  # tqdm writes to stderr


def test_it_resumes_a_batch_left_half_done(product: Any) -> None:
    from audit.services import Actor
    from decisioning.batches import services

    batch = services.batch_create(product=product, source="generated", actor=Actor.system("t"), generate_count=300, chunk_size=100, dispatch=False)
    ids = services.batch_plan(batch_id=batch.pk)
    services.chunk_run(chunk_id=ids[0])
    call_command("run_batch", "--resume", str(batch.pk), "--nice", "0", stdout=io.StringIO(), stderr=io.StringIO())
    batch.refresh_from_db()
    assert batch.status == "done" and batch.done == 300
