"""Security baseline: production settings (HSTS, secure cookies, CSRF) and the Content Security
Policy on every HTML page."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from django.test import Client

ROOT = Path(__file__).resolve().parents[2]

PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": "x" * 64,
    "ALLOWED_HOSTS": "verdict.example",
}


def production_settings(**env: str) -> dict[str, Any]:
    """config.settings as production imports it: only the required variables, nothing else."""
    names = [
        "DEBUG",
        "SESSION_COOKIE_SECURE",
        "SESSION_COOKIE_HTTPONLY",
        "SESSION_COOKIE_SAMESITE",
        "CSRF_COOKIE_SECURE",
        "CSRF_COOKIE_SAMESITE",
        "SECURE_SSL_REDIRECT",
        "SECURE_HSTS_SECONDS",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS",
        "SECURE_HSTS_PRELOAD",
        "SECURE_PROXY_SSL_HEADER",
        "SECURE_CONTENT_TYPE_NOSNIFF",
        "X_FRAME_OPTIONS",
        "MIDDLEWARE",
        "CONTENT_SECURITY_POLICY",
    ]
    code = (
        "import json, config.settings as s; "
        f"print(json.dumps({{n: getattr(s, n, None) for n in {names!r}}}))"
    )
    clean = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO", "SECURE_", "SESSION_", "CSRF_", "DATABASE_URL", "REDIS_URL"))
    }
    out = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env={
            **clean,
            **PRODUCTION,
            "VERDICT_VAR_DIR": os.environ.get("VERDICT_VAR_DIR", "/tmp"),
            **env,
        },
        capture_output=True,
        text=True,
        check=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_production_settings_are_secure_by_default() -> None:
    s = production_settings()
    assert s["DEBUG"] is False
    assert s["SESSION_COOKIE_SECURE"] and s["CSRF_COOKIE_SECURE"] and s["SESSION_COOKIE_HTTPONLY"]
    assert s["SESSION_COOKIE_SAMESITE"] == s["CSRF_COOKIE_SAMESITE"] == "Lax"
    assert s["SECURE_SSL_REDIRECT"] is True
    assert s["SECURE_HSTS_SECONDS"] >= 31536000
    assert s["SECURE_HSTS_INCLUDE_SUBDOMAINS"] and s["SECURE_HSTS_PRELOAD"]
    assert s["SECURE_PROXY_SSL_HEADER"] == ["HTTP_X_FORWARDED_PROTO", "https"]
    assert s["SECURE_CONTENT_TYPE_NOSNIFF"] and s["X_FRAME_OPTIONS"] == "DENY"
    middleware = s["MIDDLEWARE"]
    for required in (
        "django.middleware.security.SecurityMiddleware",
        "config.middleware.CSPMiddleware",  # django-csp's, its static header built once
        "django.middleware.csrf.CsrfViewMiddleware",
        "django.middleware.clickjacking.XFrameOptionsMiddleware",
        "config.login_throttle.LoginThrottleMiddleware",
    ):
        assert required in middleware, required


def test_production_refuses_to_start_without_a_secret_key() -> None:
    with pytest.raises(subprocess.CalledProcessError) as e:
        production_settings(SECRET_KEY="")
    assert "SECRET_KEY is required" in e.value.stderr


def test_csrf_is_enforced_on_forms() -> None:
    browser = Client(enforce_csrf_checks=True)
    assert browser.post("/accounts/login/", {"username": "a", "password": "b"}).status_code == 403


# ---- Content Security Policy ---------------------------------------------------------------------


def policy(response: Any) -> dict[str, list[str]]:
    header = response["Content-Security-Policy"]
    return {d.split()[0]: d.split()[1:] for d in (p.strip() for p in header.split(";")) if d}


@pytest.mark.django_db
@pytest.mark.parametrize(
    "path",
    ["/accounts/login/", "/reviews/", "/admin/", "/api/docs/", "/api/redoc/", "/no-such-page/"],
)
def test_every_html_page_has_a_strict_content_security_policy(path: str, auditor: Any) -> None:
    browser = Client()
    if path in ("/reviews/", "/admin/"):
        browser.force_login(auditor)
    r = browser.get(path)
    assert r["Content-Type"].startswith("text/html"), (path, r.status_code)
    p = policy(r)
    assert p["default-src"] == ["'self'"]
    assert "'unsafe-inline'" not in p["script-src"] and "'unsafe-eval'" not in p["script-src"]
    assert not any(s.startswith(("http:", "https:")) or s == "*" for d in p.values() for s in d)
    assert p["object-src"] == ["'none'"] and p["frame-ancestors"] == ["'none'"]
    assert p["form-action"] == ["'self'"] and p["base-uri"] == ["'self'"]


def test_the_static_policy_is_django_csps_and_per_view_changes_still_apply(settings: Any) -> None:
    """config.middleware.CSPMiddleware builds the unchanged header once; what it writes is what
    django-csp writes, a per-view update or a nonce still goes through django-csp, and a changed
    setting is picked up."""
    from csp.constants import NONCE
    from csp.decorators import csp_update
    from csp.middleware import CSPMiddleware as Upstream
    from django.http import HttpResponse
    from django.test import RequestFactory

    from config.middleware import CSPMiddleware

    def answer(request: Any) -> HttpResponse:
        return HttpResponse("ok")

    ours, upstream = CSPMiddleware(answer), Upstream(answer)
    factory = RequestFactory()
    assert policy(ours(factory.get("/api/v1/decisions"))) == policy(upstream(factory.get("/")))

    updated = csp_update({"img-src": ["https://cdn.example"]})(answer)
    header = CSPMiddleware(updated)(factory.get("/x"))["Content-Security-Policy"]
    assert "https://cdn.example" in header and policy(CSPMiddleware(updated)(factory.get("/x"))) == policy(
        Upstream(updated)(factory.get("/x"))
    )

    def with_nonce(request: Any) -> HttpResponse:
        return HttpResponse(str(request.csp_nonce))

    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {"default-src": ["'none'"], "script-src": ["'self'", NONCE]}}
    assert policy(CSPMiddleware(answer)(factory.get("/"))) == {"default-src": ["'none'"], "script-src": ["'self'"]}
    response = CSPMiddleware(with_nonce)(factory.get("/n"))
    assert policy(response)["script-src"] == ["'self'", f"'nonce-{response.content.decode()}'"]


@pytest.mark.django_db
def test_no_template_has_an_inline_script() -> None:
    """script-src has no 'unsafe-inline': a <script> without src, or an on* handler other than
    the hashed window.print(), would silently not run."""
    import re

    offenders = []
    for path in (ROOT / "templates").rglob("*.html"):
        text = path.read_text()
        for m in re.finditer(r"<script\b([^>]*)>", text):
            if "src=" not in m.group(1):
                offenders.append(f"{path.relative_to(ROOT)}: inline <script>")
        for m in re.finditer(r"\son[a-z]+=\"([^\"]*)\"", text):
            if m.group(1) != "window.print()":
                offenders.append(f"{path.relative_to(ROOT)}: handler {m.group(0).strip()}")
        if "hx-on" in text:
            offenders.append(f"{path.relative_to(ROOT)}: hx-on (needs eval)")
    assert not offenders, "\n".join(offenders)
