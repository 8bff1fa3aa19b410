"""The HTTP floor of the load bench (issue 11): a WSGI app that does no work.

Served by the same web server, worker and thread settings as the decision API and driven by the
same load generator, it measures what any answer costs on this machine before Verdict does
anything: the generator's own scheduling, loopback TCP, the server's HTTP parsing and its hand-off
to a Python thread. It reads the request body and answers 201 with a body the size of a decision's.
`make_app(work)` is the same app doing `work` per request (the served floor: bench/floor_wsgi.py).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

# a decision's response is 0.5 to 1.1 KB of JSON (approve ~490 bytes, decline ~610, refer ~1,000)
BODY = b'{"padding":"' + b"x" * 700 + b'"}'

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def make_app(work: Callable[[], object] | None = None) -> WSGIApp:
    """Each POST: read the body, `work()` if given, 201 with a decision-sized body; /healthz: 200."""

    def application(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if environ.get("PATH_INFO") == "/healthz":
            start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "2")])
            return [b"ok"]
        environ["wsgi.input"].read(int(environ.get("CONTENT_LENGTH") or 0))
        if work is not None:
            work()
        start_response("201 Created", [("Content-Type", "application/json"), ("Content-Length", str(len(BODY)))])
        return [BODY]

    return application


application = make_app()
