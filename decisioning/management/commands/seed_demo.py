from __future__ import annotations

from decimal import Decimal
from pathlib import Path
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser
from django.db import transaction

from audit.services import Actor
from decisioning import role_services, roles, selectors, services
from decisioning.models import Decision, IntegrationClient, Product

PRODUCTS = [
    {
        "code": "personal-loan",
        "name": "Personal loan",
        "description": "Unsecured fixed-rate personal loan, £1,000–£25,000 over 1–5 years.",  # noqa: RUF001
        "min_amount": Decimal("1000"),
        "max_amount": Decimal("25000"),
        "min_term_months": 12,
        "max_term_months": 60,
    },
]

DEMO_USERS = [
    ("uma", "Uma Underwood", roles.UNDERWRITER, False),
    ("sam", "Sam Senior", roles.SENIOR_UNDERWRITER, False),
    ("ana", "Ana Analyst", roles.RISK_ANALYST, True),
    ("max", "Max Manager", roles.RISK_MANAGER, True),
    ("aud", "Audrey Auditor", roles.AUDITOR, True),
]
DEMO_PASSWORD = "verdict-demo"
DEMO_CLIENT = "demo-origination"


def seed_users() -> None:
    """Create the demo users, each with exactly its one role. The role changes go through the
    role services, so a fresh demo's audit trail shows who got which role (a re-run changes
    nothing and records nothing)."""
    actor = Actor.system("seed_demo")
    for username, full_name, role, is_staff in DEMO_USERS:
        user, created = User.objects.get_or_create(username=username)
        first, last = full_name.split(" ", 1)
        user.first_name, user.last_name, user.is_staff = first, last, is_staff
        user.email = f"{username}@verdict.example"
        if created:
            user.set_password(DEMO_PASSWORD)
        user.save()
        held = selectors.user_roles(user=user)
        for other in sorted(held - {role}):
            role_services.role_revoke(user=user, role=other, actor=actor)
        if role not in held:
            role_services.role_grant(user=user, role=role, actor=actor)


class Command(BaseCommand):
    help = "Create demo products, users per role, an API client and token, a trained champion model, and decided applications."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--applications", type=int, default=300)
        parser.add_argument("--train-rows", type=int, default=20000)
        parser.add_argument("--seed", type=int, default=42)
        parser.add_argument("--base-url", default="http://127.0.0.1:8000")

    def handle(self, *args: Any, **o: Any) -> None:
        with transaction.atomic():
            for spec in PRODUCTS:
                Product.objects.update_or_create(code=spec["code"], defaults=spec)
            seed_users()
            admin, created = User.objects.get_or_create(
                username="admin", defaults={"is_staff": True, "is_superuser": True}
            )
            if created:
                admin.set_password(DEMO_PASSWORD)
                admin.save()
            client, _ = IntegrationClient.objects.get_or_create(name=DEMO_CLIENT)

        from decisioning.models import RuleSet
        from decisioning.rules.services import ruleset_create

        for spec in PRODUCTS:
            product = Product.objects.get(code=spec["code"])
            if not RuleSet.objects.filter(product=product).exists():
                # Version 1 mirrors the built-in policy (cut-offs 0.08 / 0.25) with its test cases.
                ruleset_create(product=product, user=None)
                self.stdout.write(
                    f"Published {product.code}-v1 (the built-in policy as a rule set)."
                )

        token_file = Path(settings.VAR_DIR) / "demo_api_token"
        if not token_file.exists():
            _token, raw = services.api_token_issue(
                client=client, actor=Actor.system("seed_demo"), label="demo"
            )
            token_file.write_text(raw)
            token_file.chmod(0o600)
        raw = token_file.read_text().strip()

        from modeling.serving import forget, get_scorer

        for spec in PRODUCTS:
            forget(spec["code"])
            scorer, _error = get_scorer(spec["code"])
            if scorer is None:
                self.stdout.write(
                    f"Training the {spec['code']} champion on {o['train_rows']:,} generated applications…"
                )
                call_command(
                    "train_model",
                    product=spec["code"],
                    source="generated",
                    rows=o["train_rows"],
                    seed=o["seed"],
                    alias="champion",
                )
                forget(spec["code"])

        existing = Decision.objects.filter(client=client).count()
        if existing < o["applications"]:
            call_command(
                "generate_applications",
                count=o["applications"] - existing,
                seed=o["seed"] + existing,
                product=PRODUCTS[0]["code"],
                decide=True,
                client=DEMO_CLIENT,
                backdate=True,
                days=7,
            )

        base = o["base_url"].rstrip("/")
        self.stdout.write(self.style.SUCCESS("\nVerdict demo is ready.\n"))
        self.stdout.write(f"  Review queue   {base}/reviews/")
        self.stdout.write(f"  Admin          {base}/admin/")
        self.stdout.write(f"  API docs       {base}/api/docs/")
        self.stdout.write(f"  Health         {base}/readyz")
        self.stdout.write(f"\n  Users (password: {DEMO_PASSWORD})")
        for username, full_name, role, _ in DEMO_USERS:
            self.stdout.write(f"    {username:<6} {full_name:<16} {role}")
        self.stdout.write(f"    {'admin':<6} {'Superuser':<16} (all rights)")
        self.stdout.write(f"\n  API token of {DEMO_CLIENT} (also in {token_file}):\n    {raw}")
        self.stdout.write(
            f"\n  Try it:\n    curl -s -H 'Authorization: Token {raw}' {base}/api/v1/decisions?outcome=refer\n"
        )
