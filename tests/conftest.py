"""Shared fixtures: named personas, minimal factories and one small trained model per session."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.contrib.auth.models import Group, User
from django.utils import timezone
from rest_framework.test import APIClient

from audit.services import Actor
from decisioning import roles, services
from decisioning.models import IntegrationClient, Product

PRODUCT_CODE = "personal-loan"


# ---- model -------------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def trained_scorer() -> Any:
    """A small XGBoost champion trained on generated data (no MLflow: that path has its own tests)."""
    from modeling.features import FEATURE_VERSION, reason_map
    from modeling.scoring import XGBoostScorer, booster_sha256
    from modeling.synthetic import generate, training_data
    from modeling.training import train

    end = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    cases = generate(4000, seed=11, start=end - dt.timedelta(days=365), end=end)
    X, y, _ts = training_data(cases)
    from modeling.features import CATALOGUE

    result = train(X, y, feature_names=[f.name for f in CATALOGUE], seed=11, num_boost_round=60, n_bootstrap=4)
    return XGBoostScorer(
        result.booster,
        model_name=f"verdict-{PRODUCT_CODE}",
        model_version="1",
        model_hash=booster_sha256(result.booster),
        feature_names=result.feature_names,
        interval=result.interval,
        reason_map=reason_map(),
        feature_version=FEATURE_VERSION,
    )


@pytest.fixture(autouse=True)
def _champion(trained_scorer: Any) -> Iterator[None]:
    from decisioning.rules.selectors import invalidate_policy_cache
    from decisioning.selectors import hot_caches_clear
    from modeling.serving import forget, set_scorer

    set_scorer(PRODUCT_CODE, trained_scorer)
    invalidate_policy_cache()  # the 1-second published-policy cache must not leak across tests
    hot_caches_clear()  # nor the token and product caches (rows of another test's database)
    yield
    forget()
    invalidate_policy_cache()
    hot_caches_clear()


@pytest.fixture
def clean_counters() -> Iterator[None]:
    """An empty cache and no throttle counts pending in this process, before and after: for tests
    of the throttle and the other Redis counters."""
    from django.core.cache import cache

    from decisioning.throttling import forget_local_counts

    cache.clear()
    forget_local_counts()
    yield
    cache.clear()
    forget_local_counts()


# ---- data --------------------------------------------------------------------------------------


@pytest.fixture
def product(db: Any) -> Product:
    return Product.objects.create(code=PRODUCT_CODE, name="Personal loan")


def make_user(username: str, role: str | None, *, is_staff: bool = False) -> User:
    user = User.objects.create_user(username=username, password="pw-" + username, first_name=username.title())
    user.is_staff = is_staff
    user.save()
    if role:
        user.groups.add(Group.objects.get(name=role))
    return user


@pytest.fixture
def underwriter(db: Any) -> User:
    return make_user("uma", roles.UNDERWRITER)


@pytest.fixture
def senior(db: Any) -> User:
    return make_user("sam", roles.SENIOR_UNDERWRITER)


@pytest.fixture
def analyst(db: Any) -> User:
    return make_user("ana", roles.RISK_ANALYST, is_staff=True)


@pytest.fixture
def manager(db: Any) -> User:
    return make_user("max", roles.RISK_MANAGER, is_staff=True)


@pytest.fixture
def auditor(db: Any) -> User:
    return make_user("aud", roles.AUDITOR, is_staff=True)


@pytest.fixture
def outsider(db: Any) -> User:
    return make_user("olly", None)


def make_client(name: str) -> tuple[IntegrationClient, str]:
    client = IntegrationClient.objects.create(name=name)
    _token, raw = services.api_token_issue(client=client, actor=Actor.system("tests"))
    return client, raw


@pytest.fixture
def integration(db: Any) -> tuple[IntegrationClient, str]:
    return make_client("origination")


@pytest.fixture
def other_integration(db: Any) -> tuple[IntegrationClient, str]:
    return make_client("broker")


@pytest.fixture
def api(integration: tuple[IntegrationClient, str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {integration[1]}")
    return client


@pytest.fixture
def other_api(other_integration: tuple[IntegrationClient, str]) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {other_integration[1]}")
    return client


def application_body(**overrides: Any) -> dict[str, Any]:
    """A minimal valid, creditworthy application; override any applicant/loan field by name."""
    applicant = {
        "first_name": "Grace",
        "last_name": "Patel",
        "date_of_birth": "1985-04-12",
        "postcode": "LS1 4AP",
        "uk_resident": True,
        "residential_status": "mortgage",
        "months_at_address": 96,
        "employment_status": "employed",
        "months_in_employment": 72,
        "annual_income": "52000.00",
        "monthly_expenditure": "900.00",
        "existing_debt": "1000.00",
        "monthly_debt_payments": "50.00",
        "dependants": 0,
        "bankrupt_or_iva": False,
    }
    loan = {"amount": "5000.00", "term_months": 36, "purpose": "car"}
    body: dict[str, Any] = {"product": PRODUCT_CODE, "reference": "APP-1"}
    for key, value in overrides.items():
        if key in applicant:
            applicant[key] = value
        elif key in loan:
            loan[key] = value
        else:
            body[key] = value
    body["applicant"], body["loan"] = applicant, loan
    return body


@pytest.fixture
def body() -> Callable[..., dict[str, Any]]:
    return application_body


def money(value: str) -> Decimal:
    return Decimal(value)


def now() -> dt.datetime:
    return timezone.now()
