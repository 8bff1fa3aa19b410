"""Sign-in throttling on the login page and the admin's (config/login_throttle.py)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.cache import cache
from django.test import Client

from tests.conftest import make_user

pytestmark = pytest.mark.django_db

PAGES = ["/accounts/login/", "/admin/login/"]


@pytest.fixture(autouse=True)
def _small_limits(settings: Any) -> None:
    settings.LOGIN_THROTTLE_FAILURES = 3
    settings.LOGIN_THROTTLE_WINDOW = 600
    cache.clear()


def sign_in(page: str, username: str, password: str, address: str = "10.0.0.1") -> Any:
    return Client(REMOTE_ADDR=address).post(page, {"username": username, "password": password})


@pytest.mark.parametrize("page", PAGES)
def test_it_refuses_sign_in_after_too_many_failures(page: str) -> None:
    user = make_user("tess", None, is_staff=True)
    for _ in range(3):
        assert sign_in(page, "tess", "wrong").status_code == 200  # the form, with its error
    r = sign_in(page, "tess", "pw-tess")  # even the right password: guessing must stop
    assert r.status_code == 429
    assert r["Retry-After"] == "600"
    assert "Too many sign-in attempts" in r.content.decode()
    assert "_auth_user_id" not in r.client.session
    # Another address is not affected, nor another username from the same address.
    assert sign_in(page, "tess", "pw-tess", address="10.0.0.2").status_code == 302
    make_user("uri", None, is_staff=True)
    assert sign_in(page, "uri", "pw-uri").status_code == 302
    assert User.objects.get(pk=user.pk).is_active


def test_the_window_ends_and_a_success_clears_the_count() -> None:
    make_user("tess", None)
    for _ in range(2):
        sign_in("/accounts/login/", "tess", "wrong")
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 302
    for _ in range(2):  # the count started again after the success
        sign_in("/accounts/login/", "tess", "wrong")
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 302
    for _ in range(3):
        sign_in("/accounts/login/", "tess", "wrong")
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 429
    cache.clear()  # what the window's expiry does
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 302


def test_an_address_spraying_usernames_is_stopped() -> None:
    make_user("tess", None)
    for i in range(12):  # 4x the per-username limit, over many usernames
        sign_in("/accounts/login/", f"user{i}", "wrong")
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 429
    assert sign_in("/accounts/login/", "tess", "pw-tess", address="10.0.0.9").status_code == 302


def test_usernames_are_not_in_cache_keys() -> None:
    from config.login_throttle import _keys

    class Req:
        META = {"REMOTE_ADDR": "10.0.0.1"}

    for key in _keys(Req(), "tess.canary@example.com"):  # type: ignore[arg-type]
        assert "tess" not in key and "10.0.0.1" not in key


def test_a_cache_outage_does_not_lock_anyone_out(monkeypatch: pytest.MonkeyPatch) -> None:
    make_user("tess", None)

    def down(*args: Any, **kwargs: Any) -> Any:
        raise ConnectionError("cache down")

    for name in ("get_many", "add", "incr", "delete"):
        monkeypatch.setattr(cache, name, down)
    for _ in range(5):
        assert sign_in("/accounts/login/", "tess", "wrong").status_code == 200
    assert sign_in("/accounts/login/", "tess", "pw-tess").status_code == 302
