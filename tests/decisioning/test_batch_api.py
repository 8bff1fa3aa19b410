"""The batch API: start, follow, download; the negative cases."""

from __future__ import annotations

import csv
import io
from typing import Any

import pytest
from rest_framework.test import APIClient

from decisioning.models import Batch

pytestmark = pytest.mark.django_db


def start(api: Any, capture: Any, **body: Any) -> Any:
    with capture(execute=True):
        return api.post("/api/v1/batches", {"product": "personal-loan", **body}, format="json")


def test_it_starts_follows_and_downloads_a_batch(product: Any, api: Any, django_capture_on_commit_callbacks: Any) -> None:
    r = start(api, django_capture_on_commit_callbacks, source="generated", count=120, chunk_size=100, seed=4)
    assert r.status_code == 202, r.content
    batch_id = r.json()["id"]
    detail = api.get(f"/api/v1/batches/{batch_id}").json()
    assert detail["status"] == "done" and detail["done"] == 120 and detail["progress"] == 1.0
    assert detail["chunks"] == {"total": 2, "done": 2}
    assert detail["model"] == {"name": "verdict-personal-loan", "version": "1"}
    assert sum(detail["summary"]["outcomes"].values()) == 120

    download = api.get(detail["results_url"])
    assert download.status_code == 200 and download["Content-Type"] == "text/csv"
    rows = list(csv.DictReader(io.StringIO(b"".join(download.streaming_content).decode())))
    assert len(rows) == 120 and [int(r["item"]) for r in rows] == list(range(120))
    assert {r["outcome"] for r in rows} <= {"approve", "refer", "decline"}


def test_it_accepts_a_csv_upload(product: Any, api: Any, django_capture_on_commit_callbacks: Any) -> None:
    from tests.decisioning.test_batch_runs import CSV

    upload = io.BytesIO(CSV.encode())
    upload.name = "apps.csv"
    with django_capture_on_commit_callbacks(execute=True):
        r = api.post("/api/v1/batches", {"product": "personal-loan", "source": "upload", "file": upload}, format="multipart")
    assert r.status_code == 202, r.content
    detail = api.get(f"/api/v1/batches/{r.json()['id']}").json()
    assert (detail["status"], detail["total"], detail["errors"]) == ("done", 4, 2)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"source": "generated"}, "count"),
        ({"source": "generated", "count": 0}, "count"),
        ({"source": "stored", "count": 5}, "count"),
        ({"source": "upload"}, "file"),
        ({"source": "sideways"}, "source"),
        ({"source": "generated", "count": 5, "colour": "red"}, "colour"),
        ({"source": "generated", "count": 5, "chunk_size": 5}, "chunk_size"),
        ({"source": "generated", "count": 5, "ruleset_version": "nope-v9"}, "ruleset_version"),
        ({"source": "stored", "date_from": "2026-12-02T00:00:00Z", "date_to": "2026-12-01T00:00:00Z"}, "date_to"),
    ],
)
def test_it_rejects_bad_input(product: Any, api: Any, body: dict[str, Any], field: str) -> None:
    r = api.post("/api/v1/batches", {"product": "personal-loan", **body}, format="json")
    assert r.status_code == 400, r.content
    assert r.json()["code"] == "invalid" and field in r.json()["errors"]
    assert not Batch.objects.exists()


def test_it_hides_another_clients_batch(product: Any, api: Any, other_api: Any, django_capture_on_commit_callbacks: Any) -> None:
    batch_id = start(api, django_capture_on_commit_callbacks, source="generated", count=100, chunk_size=100).json()["id"]
    for url in (f"/api/v1/batches/{batch_id}", f"/api/v1/batches/{batch_id}/results", "/api/v1/batches/999999", "/api/v1/batches/x"):
        r = other_api.get(url) if "999999" not in url and "/x" not in url else api.get(url)
        assert r.status_code == 404 and r.json()["code"] == "not_found"


def test_it_refuses_anonymous_callers(product: Any) -> None:
    anonymous = APIClient()
    assert anonymous.post("/api/v1/batches", {"product": "personal-loan", "source": "generated", "count": 1}, format="json").status_code == 401
    assert anonymous.get("/api/v1/batches/1").status_code == 401


def test_it_answers_409_for_results_of_an_unfinished_batch(product: Any, api: Any) -> None:
    r = api.post("/api/v1/batches", {"product": "personal-loan", "source": "generated", "count": 100}, format="json")
    assert r.status_code == 202 and r.json()["status"] == "queued"  # on_commit not run: still queued
    res = api.get(f"/api/v1/batches/{r.json()['id']}/results")
    assert res.status_code == 409 and res.json()["code"] == "not_finished"


def test_it_documents_the_batch_endpoints_and_their_errors() -> None:
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    post = schema["paths"]["/api/v1/batches"]["post"]
    assert {"202", "400", "401", "413"} <= set(post["responses"])
    assert "multipart/form-data" in post["requestBody"]["content"]
    assert {"200", "404"} <= set(schema["paths"]["/api/v1/batches/{batch_id}"]["get"]["responses"])
    assert {"200", "404", "409"} <= set(schema["paths"]["/api/v1/batches/{batch_id}/results"]["get"]["responses"])
