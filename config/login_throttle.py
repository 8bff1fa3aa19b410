"""Login throttling for the sign-in page and the admin's: after LOGIN_THROTTLE_FAILURES failed
sign-ins for one username from one address within LOGIN_THROTTLE_WINDOW seconds, further
attempts get 429 (with Retry-After) until the window ends — even with the right password, so that
guessing cannot go on. An address that fails 4x as often, across any usernames, is stopped too.

Failures are counted from Django's own `user_login_failed` signal (whatever the backend), in the
cache, under keys that hash the username and address (no personal data in the cache). A success
clears the username's count. If the cache is down, sign-in is not blocked: throttling protects
against guessing, it must not lock everyone out with Redis.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib.auth.signals import user_logged_in, user_login_failed
from django.core.cache import cache
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.urls import reverse

logger = logging.getLogger(__name__)


def _limits() -> tuple[int, int]:
    return (
        int(getattr(settings, "LOGIN_THROTTLE_FAILURES", 5)),
        int(getattr(settings, "LOGIN_THROTTLE_WINDOW", 900)),
    )


def _address(request: HttpRequest) -> str:
    # REMOTE_ADDR: behind a proxy, the proxy must set it (gunicorn --forwarded-allow-ips); a
    # client-supplied X-Forwarded-For is not trusted here.
    return request.META.get("REMOTE_ADDR", "") or "-"


def _key(*parts: str) -> str:
    digest = hashlib.sha256("\x1f".join(parts).encode()).hexdigest()[:32]
    return f"login-fail:{digest}"


def _keys(request: HttpRequest, username: str) -> tuple[str, str]:
    address = _address(request)
    return _key("user", username.strip().lower(), address), _key("addr", address)


def _count(key: str, window: int) -> None:
    if cache.add(key, 1, window):
        return
    try:
        cache.incr(key)
    except ValueError:  # expired between add and incr
        cache.add(key, 1, window)


@receiver(user_login_failed, dispatch_uid="verdict-login-throttle-failed")
def _failed(
    sender: Any, credentials: dict[str, Any], request: HttpRequest | None = None, **kw: Any
) -> None:
    if request is None:
        return
    _n, window = _limits()
    try:
        for key in _keys(request, str(credentials.get("username", ""))):
            _count(key, window)
    except Exception:  # cache unavailable: count nothing, block nothing
        logger.warning("login throttle: cache unavailable, failure not counted")


@receiver(user_logged_in, dispatch_uid="verdict-login-throttle-succeeded")
def _succeeded(sender: Any, request: HttpRequest | None, user: Any, **kw: Any) -> None:
    if request is None:
        return
    try:
        cache.delete(_keys(request, user.get_username())[0])
    except Exception:
        logger.warning("login throttle: cache unavailable, count not cleared")


def throttled(request: HttpRequest, username: str) -> bool:
    limit, _window = _limits()
    user_key, address_key = _keys(request, username)
    try:
        counts = cache.get_many([user_key, address_key])
    except Exception:
        return False
    return counts.get(user_key, 0) >= limit or counts.get(address_key, 0) >= 4 * limit


class LoginThrottleMiddleware:
    """Refuses sign-in POSTs to the login pages while their username+address is throttled."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response
        self._paths: tuple[str, ...] | None = None

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method == "POST":
            if self._paths is None:
                self._paths = (reverse("login"), reverse("admin:login"))
            if request.path in self._paths and throttled(request, request.POST.get("username", "")):
                _n, window = _limits()
                response = render(
                    request,
                    "registration/login_throttled.html",
                    {"minutes": max(1, window // 60)},
                    status=429,
                )
                response["Retry-After"] = str(window)
                return response
        return self.get_response(request)
