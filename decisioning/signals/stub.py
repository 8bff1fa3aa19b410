"""A local HTTP stub of the four providers, with fault injection, for tests and failure drills.

It answers in a provider-like shape (nested, with personal data the gateway must not keep),
computed from the deterministic simulators so its answers are realistic and repeatable. The
path chooses the behaviour, so one stub serves healthy and broken providers at once:

    /<signal>/ok                 200 with a well-formed answer
    /<signal>/slow/<ms>          the same, after <ms> milliseconds
    /<signal>/hang               no answer until the stub is stopped (or 30 s)
    /<signal>/status/<code>      that HTTP status (401, 500, 503 …) with a JSON error body
    /<signal>/garbage            200 with a body that is not JSON
    /<signal>/wrong-schema       200 with JSON of the wrong shape
    /<signal>/flaky/<n>          503 for the first <n> requests, then ok

`python -m decisioning.signals.stub [port]` runs it in the foreground (examples/providers.json
points at port 8765). Loopback only.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import json
import sys
import threading
import time
from collections import Counter
from decimal import Decimal
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.signals import simulated

_KYC_WORDS = {"pass": "VERIFIED", "refer": "REFER", "fail": "FAILED"}

# The declared schemas that map the stub's answers to typed signals (also the documented example).
SCHEMAS: dict[str, dict[str, Any]] = {
    "bureau": {
        "fields": {
            "score": {"path": "report.score", "type": "integer", "min": 0, "max": 999},
            "ccj_count_6y": {"path": "report.public_records.ccj_6y", "type": "integer", "min": 0},
            "defaults_count_6y": {
                "path": "report.accounts.defaults_6y",
                "type": "integer",
                "min": 0,
            },
            "arrears_count_12m": {
                "path": "report.accounts.arrears_12m",
                "type": "integer",
                "min": 0,
            },
            "searches_6m": {
                "path": "report.searches_6m",
                "type": "integer",
                "min": 0,
                "default": 0,
            },
            "revolving_utilisation": {
                "path": "report.accounts.revolving_utilisation",
                "type": "number",
                "min": 0,
            },
            "total_unsecured_balance": {
                "path": "report.accounts.unsecured_balance",
                "type": "decimal",
                "min": 0,
            },
        },
        "keep": {"report_id": "report.id"},
    },
    "kyc": {
        "fields": {
            "status": {
                "path": "result",
                "type": "string",
                "map": {"VERIFIED": "pass", "REFER": "refer", "FAILED": "fail"},
            },
            "identity_score": {"path": "match.score", "type": "integer", "min": 0, "max": 100},
        },
        "keep": {"check_id": "check_id"},
    },
    "sanctions": {
        "fields": {
            "sanctions_hit": {"path": "screening.sanctions.hit", "type": "boolean"},
            "pep_hit": {"path": "screening.pep.hit", "type": "boolean"},
        },
        "keep": {"list_version": "screening.list_version"},
    },
    "fraud": {
        "fields": {
            "fraud_score": {"path": "score", "type": "integer", "min": 0, "max": 100},
            "device_risk": {"path": "device.risk", "type": "string"},
        },
    },
}


def _application(request: dict[str, Any]) -> ApplicationData:
    """The simulators' view of a request: identity from the request, neutral defaults otherwise."""
    return ApplicationData(
        first_name=str(request.get("first_name", "")),
        last_name=str(request.get("last_name", "")),
        date_of_birth=dt.date.fromisoformat(request.get("date_of_birth", "1980-01-01")),
        postcode=str(request.get("postcode", "")),
        uk_resident=bool(request.get("uk_resident", True)),
        residential_status=ResidentialStatus.OTHER,
        months_at_address=int(request.get("months_at_address", 60)),
        employment_status=EmploymentStatus.EMPLOYED,
        months_in_employment=60,
        annual_income=Decimal(0),
        monthly_expenditure=Decimal(0),
        existing_debt=Decimal(str(request.get("existing_debt", "0"))),
        monthly_debt_payments=Decimal(0),
        dependants=0,
        requested_amount=Decimal(0),
        term_months=12,
        purpose=LoanPurpose(request.get("purpose", "other")),
    )


def answer(signal: str, request: dict[str, Any]) -> dict[str, Any]:
    """A provider-shaped answer, including personal data the gateway must drop."""
    app = _application(request)
    subject = {
        "full_name": f"{app.first_name} {app.last_name}",
        "postcode": app.postcode,
        "date_of_birth": app.date_of_birth.isoformat(),
    }
    if signal == "bureau":
        b = simulated.simulate_bureau(app)
        return {
            "subject": subject,
            "report": {
                "id": "R-" + hashlib.sha256(app.identity_key().encode()).hexdigest()[:10],
                "score": b.score,
                "public_records": {"ccj_6y": b.ccj_count_6y},
                "accounts": {
                    "defaults_6y": b.defaults_count_6y,
                    "arrears_12m": b.arrears_count_12m,
                    "revolving_utilisation": b.revolving_utilisation,
                    "unsecured_balance": str(b.total_unsecured_balance),
                },
                "searches_6m": b.searches_6m,
                "address_history": [{"postcode": app.postcode, "from": "2019-03"}],
            },
        }
    if signal == "kyc":
        k = simulated.simulate_kyc(app)
        return {
            "subject": subject,
            "result": _KYC_WORDS[k.status.value],
            "match": {"score": k.identity_score},
            "check_id": "K-1",
        }
    if signal == "sanctions":
        s = simulated.simulate_sanctions(app)
        return {
            "subject": subject,
            "screening": {
                "sanctions": {"hit": s.sanctions_hit},
                "pep": {"hit": s.pep_hit},
                "list_version": "2026-12-01",
            },
        }
    f = simulated.simulate_fraud(app)
    return {"subject": subject, "score": f.fraud_score, "device": {"risk": f.device_risk}}


class _Handler(BaseHTTPRequestHandler):
    server: StubServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:  # quiet: tests and drills read counters
        pass

    def _send(self, status: int, body: bytes, content_type: str = "application/json") -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The caller may have given up waiting (a timeout under test): nothing to report then.
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b"{}"
        parts = [p for p in self.path.split("/") if p]
        stub = self.server
        with stub.lock:
            stub.hits[self.path] += 1
            count = stub.hits[self.path]
            stub.last_headers[self.path] = dict(self.headers.items())
        if len(parts) < 2 or parts[0] not in SCHEMAS:
            return self._send(404, b'{"error":"unknown path"}')
        signal, mode, arg = parts[0], parts[1], (parts[2] if len(parts) > 2 else "")
        try:
            request = json.loads(raw)
        except ValueError:
            return self._send(400, b'{"error":"bad json"}')
        if (
            stub.required_token
            and self.headers.get("Authorization") != f"Bearer {stub.required_token}"
        ):
            return self._send(401, b'{"error":"unauthorised"}')
        if mode == "slow":
            time.sleep(int(arg) / 1000)
        elif mode == "hang":
            stub.release.wait(30)
        elif mode == "status":
            return self._send(int(arg), json.dumps({"error": f"status {arg}"}).encode())
        elif mode == "garbage":
            return self._send(200, b"<html>502 Bad Gateway</html>", "text/html")
        elif mode == "wrong-schema":
            return self._send(200, json.dumps({"data": {"unexpected": True}}).encode())
        elif mode == "flaky" and count <= int(arg):
            return self._send(503, b'{"error":"try again"}')
        elif mode not in ("ok", "flaky"):
            return self._send(404, b'{"error":"unknown mode"}')
        self._send(200, json.dumps(answer(signal, request)).encode())


class StubServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False

    def __init__(self, port: int = 0, *, required_token: str = "") -> None:
        super().__init__(("127.0.0.1", port), _Handler)
        self.lock = threading.Lock()
        self.hits: Counter[str] = Counter()
        self.last_headers: dict[str, dict[str, str]] = {}
        self.release = threading.Event()
        self.required_token = required_token
        self._thread: threading.Thread | None = None

    def handle_error(self, request: Any, client_address: Any) -> None:
        if not isinstance(sys.exc_info()[1], BrokenPipeError | ConnectionResetError):
            super().handle_error(request, client_address)

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"

    def start(self) -> StubServer:
        self._thread = threading.Thread(
            target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self._thread.start()
        return self

    def stop(self) -> None:
        self.release.set()  # let hanging handlers finish
        self.shutdown()
        self.server_close()


def main() -> int:
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 8765
    import os

    server = StubServer(port, required_token=os.environ.get("STUB_PROVIDER_TOKEN", ""))
    print(
        f"provider stub on {server.base_url} (paths: /<signal>/ok|slow/<ms>|hang|status/<code>|garbage|wrong-schema|flaky/<n>)"
    )
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.release.set()
        server.server_close()
    return 0


if __name__ == "__main__":
    sys.exit(main())


def provider_config(base_url: str, paths: dict[str, str], **overrides: Any) -> dict[str, Any]:
    """A SIGNAL_PROVIDERS configuration pointing the signals in `paths` at this stub (by mode,
    e.g. `{"bureau": "hang"}`) and the others at the simulators. `overrides` (by signal type)
    are merged into that provider's block."""
    providers: dict[str, Any] = {}
    for signal in SCHEMAS:
        if signal in paths:
            block: dict[str, Any] = {
                "kind": "http",
                "name": f"stub-{signal}",
                "version": "stub-1",
                "url": f"{base_url}/{signal}/{paths[signal]}",
                "timeout_ms": 300,
                "retries": 1,
                "backoff_ms": 10,
                "backoff_max_ms": 40,
                "schema": SCHEMAS[signal],
            }
        else:
            block = {"kind": "simulated"}
        providers[signal] = {**block, **overrides.get(signal, {})}
    return {"providers": providers}
