"""The decision API (`/api/v1/`): one APIView per operation, nested Input/Output serializers."""

from __future__ import annotations

import datetime as dt
import re
import time
from decimal import Decimal
from typing import Any

from drf_spectacular.utils import (
    OpenApiExample,
    OpenApiParameter,
    OpenApiResponse,
    extend_schema,
    inline_serializer,
)
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from config.errors import ApplicationError, NotFound
from config.pagination import Pagination
from decisioning import selectors, services
from decisioning.api_fields import LoanAmountField, MoneyField
from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.models import Decision, IntegrationClient, LoanOutcome

POSTCODE_INPUT = r"^[A-Za-z]{1,2}[0-9][A-Za-z0-9]? ?[0-9][A-Za-z]{2}$"
UK_POSTCODE = re.compile(r"^[A-Z]{1,2}[0-9][A-Z0-9]? ?[0-9][A-Z]{2}$")
IDEMPOTENCY_KEY = re.compile(r"^[\x21-\x7e]{1,128}$")
MONEY = {"max_digits": 12, "decimal_places": 2, "min_value": Decimal("0"), "max_value": Decimal("9999999999.99")}


class StrictSerializer(serializers.Serializer):
    """Rejects fields it does not declare, at every nesting level, instead of ignoring them."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)

    @classmethod
    def validated(cls, data: Any) -> Any:
        """`cls(data=data).is_valid(raise_exception=True)` and its `validated_data`, without
        rebuilding the serializer: DRF deep-copies every declared field of every nested serializer
        per instance (~1 ms for the decision request, the largest part of validating it). The field
        tree is built and bound once per class and reused; validation keeps no state on fields, so
        one tree serves every thread. Errors are the same `ValidationError` as `is_valid` raises."""
        validator = _VALIDATORS.get(cls)
        if validator is None:
            validator = cls()
            _bind_all(validator)
            _VALIDATORS[cls] = validator
        return validator.run_validation(data)


_VALIDATORS: dict[type[StrictSerializer], StrictSerializer] = {}


def _bind_all(serializer: serializers.Serializer) -> None:
    """Build every nested serializer's fields now, before the tree is shared between threads."""
    for field in serializer.fields.values():
        if isinstance(field, serializers.Serializer):
            _bind_all(field)
        elif isinstance(getattr(field, "child", None), serializers.Serializer):
            _bind_all(field.child)


# ---- shared schema bits -------------------------------------------------------------------------

ERROR_SCHEMA = inline_serializer(
    name="Error",
    fields={
        "code": serializers.CharField(help_text="Stable machine-readable code."),
        "message": serializers.CharField(),
        "errors": serializers.DictField(
            child=serializers.ListField(child=serializers.CharField()),
            help_text="Field path → messages.",
        ),
    },
)


def _error(description: str, code: str, message: str, errors: dict[str, list[str]] | None = None) -> OpenApiResponse:
    return OpenApiResponse(
        response=ERROR_SCHEMA,
        description=description,
        examples=[OpenApiExample(code, value={"code": code, "message": message, "errors": errors or {}})],
    )


AUTH_ERRORS = {
    401: _error("No or invalid API token.", "not_authenticated", "Authentication credentials were not provided."),
    403: _error("The caller is not an integration client.", "permission_denied", "You do not have permission to do this."),
    429: _error("Too many requests; see Retry-After.", "throttled", "Too many requests; retry in 3 s."),
    503: _error("A dependency is down; retry.", "unavailable", "The service is temporarily unavailable; retry shortly."),
}
NOT_FOUND = {404: _error("Missing, or another client's.", "not_found", "Decision not found.")}


# ---- serializers --------------------------------------------------------------------------------


class ApplicantIn(StrictSerializer):
    first_name = serializers.CharField(max_length=100, trim_whitespace=True)
    last_name = serializers.CharField(max_length=100, trim_whitespace=True)
    date_of_birth = serializers.DateField(help_text="Not in the future, and within the last 120 years.")
    postcode = serializers.RegexField(POSTCODE_INPUT, max_length=10, help_text="UK postcode, e.g. `SW1A 1AA`.")
    uk_resident = serializers.BooleanField()
    residential_status = serializers.ChoiceField(choices=[m.value for m in ResidentialStatus])
    months_at_address = serializers.IntegerField(min_value=0, max_value=1200)
    employment_status = serializers.ChoiceField(choices=[m.value for m in EmploymentStatus])
    months_in_employment = serializers.IntegerField(min_value=0, max_value=1200)
    annual_income = MoneyField(**MONEY, help_text="Gross, GBP.")
    monthly_expenditure = MoneyField(**MONEY, help_text="Essential outgoings, GBP/month.")
    existing_debt = MoneyField(**MONEY, help_text="Outstanding unsecured debt, GBP.")
    monthly_debt_payments = MoneyField(**MONEY, help_text="GBP/month.")
    dependants = serializers.IntegerField(min_value=0, max_value=20)
    bankrupt_or_iva = serializers.BooleanField(default=False, help_text="Declared bankruptcy or IVA.")

    def validate_postcode(self, value: str) -> str:
        normalised = value.strip().upper()
        if not UK_POSTCODE.match(normalised):
            raise serializers.ValidationError("Enter a valid UK postcode.")
        return normalised

    def validate_date_of_birth(self, value: Any) -> Any:
        today = dt.date.today()
        if value > today:
            raise serializers.ValidationError("Must not be in the future.")
        if value.year < today.year - 120:
            raise serializers.ValidationError("Must be within the last 120 years.")
        return value


class LoanIn(StrictSerializer):
    amount = LoanAmountField(help_text="GBP; within the product's limits (`GET /products`).")
    term_months = serializers.IntegerField(min_value=1, max_value=600)
    purpose = serializers.ChoiceField(choices=[m.value for m in LoanPurpose])


class DecisionCreateIn(StrictSerializer):
    product = serializers.SlugField(max_length=40, help_text="Product code, from `GET /products`.")
    reference = serializers.CharField(
        max_length=64, required=False, allow_blank=True, default="", help_text="Your own application reference."
    )
    applicant = ApplicantIn()
    loan = LoanIn()


# ---- the decision request's fast path -------------------------------------------------------------
#
# Nearly every request an integration sends is already in canonical form: strings without
# surrounding whitespace, JSON integers and booleans, money as decimal strings. For exactly those,
# `decision_input_fast` builds what `DecisionCreateIn` validates to, in a tenth of the time (DRF's
# field-by-field machinery was ~8 % of a decision's CPU). Anything else — a missing or unknown
# field, a value DRF would coerce ("12", 12.0, "true"), whitespace to trim, anything invalid —
# returns None and goes through `DecisionCreateIn`, which accepts or refuses it with its usual
# errors. So the contract, the errors and the OpenAPI schema stay DRF's; a test compares the two
# paths on thousands of valid and mutated requests.

_TOP = DecisionCreateIn._declared_fields  # the declared (unbound) fields: their bounds and choices
_APPLICANT = ApplicantIn._declared_fields
_LOAN = LoanIn._declared_fields
_APPLICANT_REQUIRED = frozenset(name for name, f in _APPLICANT.items() if f.required)
_SLUG = re.compile(r"^[-a-zA-Z0-9_]+$")  # DRF's SlugField
_POSTCODE_FIELD = re.compile(POSTCODE_INPUT)  # RegexField's validator: re.search
_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")
_CENT = Decimal("0.01")


class _NotCanonical(Exception):
    pass


def _text(value: Any, field: serializers.CharField) -> str:
    """A CharField's value when trimming, null and surrogate checks would change nothing."""
    if (
        type(value) is not str
        or len(value) > field.max_length  # type: ignore[operator]
        or value != value.strip()
        or (not value and not field.allow_blank)
        or "\x00" in value
    ):
        raise _NotCanonical
    try:
        value.encode()  # lone surrogates do not encode
    except UnicodeEncodeError:
        raise _NotCanonical from None
    return value


def _integer(value: Any, field: serializers.IntegerField) -> int:
    # not a bool: DRF refuses True
    if type(value) is not int or not field.min_value <= value <= field.max_value:  # type: ignore[operator]
        raise _NotCanonical
    return value


def _boolean(value: Any) -> bool:
    if type(value) is not bool:
        raise _NotCanonical
    return value


def _choice(value: Any, field: serializers.ChoiceField) -> Any:
    if type(value) is not str or value not in field.choice_strings_to_values:
        raise _NotCanonical
    return field.choice_strings_to_values[value]


def _money(value: Any, field: MoneyField) -> Decimal:
    """A decimal string the field's pattern accepts: within its bounds, at most two decimals, so
    DRF's quantize to the cent is exact."""
    if type(value) is not str or not field.pattern.fullmatch(value):
        raise _NotCanonical
    return Decimal(value).quantize(_CENT)


def _checked(method: Any, value: Any) -> Any:
    """One of ApplicantIn's own `validate_<field>` methods (they use no serializer state)."""
    try:
        return method(None, value)
    except serializers.ValidationError:
        raise _NotCanonical from None


def decision_input_fast(data: Any) -> dict[str, Any] | None:
    """`DecisionCreateIn`'s validated data for a canonical, valid request; None for anything else."""
    try:
        if type(data) is not dict or not data.keys() <= _TOP.keys():
            raise _NotCanonical
        a, loan = data["applicant"], data["loan"]
        if (
            type(a) is not dict
            or type(loan) is not dict
            or not _APPLICANT_REQUIRED <= a.keys() <= _APPLICANT.keys()
            or loan.keys() != _LOAN.keys()
        ):
            raise _NotCanonical
        product = _text(data["product"], _TOP["product"])
        if not _SLUG.match(product):
            raise _NotCanonical
        birth = a["date_of_birth"]
        if type(birth) is not str or not _ISO_DATE.match(birth):
            raise _NotCanonical
        try:
            date_of_birth = _checked(ApplicantIn.validate_date_of_birth, dt.date.fromisoformat(birth))
        except ValueError:
            raise _NotCanonical from None
        postcode = _text(a["postcode"], _APPLICANT["postcode"])  # type: ignore[arg-type]
        if not _POSTCODE_FIELD.search(postcode):
            raise _NotCanonical
        f = _APPLICANT
        return {
            "product": product,
            "reference": _text(data.get("reference", _TOP["reference"].default), _TOP["reference"]),
            "applicant": {
                "first_name": _text(a["first_name"], f["first_name"]),
                "last_name": _text(a["last_name"], f["last_name"]),
                "date_of_birth": date_of_birth,
                "postcode": _checked(ApplicantIn.validate_postcode, postcode),
                "uk_resident": _boolean(a["uk_resident"]),
                "residential_status": _choice(a["residential_status"], f["residential_status"]),
                "months_at_address": _integer(a["months_at_address"], f["months_at_address"]),
                "employment_status": _choice(a["employment_status"], f["employment_status"]),
                "months_in_employment": _integer(a["months_in_employment"], f["months_in_employment"]),
                "annual_income": _money(a["annual_income"], f["annual_income"]),
                "monthly_expenditure": _money(a["monthly_expenditure"], f["monthly_expenditure"]),
                "existing_debt": _money(a["existing_debt"], f["existing_debt"]),
                "monthly_debt_payments": _money(a["monthly_debt_payments"], f["monthly_debt_payments"]),
                "dependants": _integer(a["dependants"], f["dependants"]),
                "bankrupt_or_iva": _boolean(a.get("bankrupt_or_iva", f["bankrupt_or_iva"].default)),
            },
            "loan": {
                "amount": _money(loan["amount"], _LOAN["amount"]),
                "term_months": _integer(loan["term_months"], _LOAN["term_months"]),
                "purpose": _choice(loan["purpose"], _LOAN["purpose"]),
            },
        }
    except (_NotCanonical, KeyError):
        return None


class ReasonOut(serializers.Serializer):
    code = serializers.CharField()
    description = serializers.CharField(help_text="Customer-facing wording.")


class IntervalOut(serializers.Serializer):
    lower = serializers.FloatField()
    upper = serializers.FloatField()


class ModelOut(serializers.Serializer):
    name = serializers.CharField()
    version = serializers.CharField()


class ReviewOut(serializers.Serializer):
    status = serializers.CharField()
    final_outcome = serializers.CharField(allow_null=True)
    decided_at = serializers.DateTimeField(allow_null=True)


class CounterfactualOut(serializers.Serializer):
    input = serializers.ChoiceField(choices=["amount", "term_months"])
    to = serializers.CharField(help_text="The value that would improve the outcome.")
    outcome = serializers.CharField(help_text="The outcome it would then get.")


class DecisionOut(serializers.Serializer):
    id = serializers.UUIDField()
    reference = serializers.CharField()
    product = serializers.CharField()
    outcome = serializers.ChoiceField(
        choices=Decision.OutcomeChoice.values, help_text="The engine's decision."
    )
    final_outcome = serializers.CharField(
        allow_null=True,
        help_text="The outcome that stands: the engine's, or the underwriter's for a referred "
        "application; null while the review is pending.",
    )
    pd = serializers.FloatField(allow_null=True, help_text="Probability of default, 0–1.")  # noqa: RUF001 — typographic dash in UI text
    pd_interval = IntervalOut(allow_null=True)
    approved_amount = serializers.DecimalField(max_digits=12, decimal_places=2, allow_null=True)
    reasons = ReasonOut(many=True)
    ruleset_version = serializers.CharField()
    model = ModelOut(allow_null=True)
    feature_version = serializers.CharField()
    degraded = serializers.BooleanField(help_text="True if made without all required data.")
    counterfactual = CounterfactualOut(
        allow_null=True,
        help_text="For a decline or refer: the smallest change of amount or term that would "
        "improve the outcome under the same policy, if one exists within the product.",
    )
    review = ReviewOut(allow_null=True)
    created_at = serializers.DateTimeField()

    def to_representation(self, d: Decision) -> dict[str, Any]:
        case = getattr(d, "review_case", None)
        return {
            "id": str(d.id),
            "reference": d.application.reference,
            "product": d.product.code,
            "outcome": d.outcome,
            "final_outcome": selectors.final_outcome(decision=d),
            "pd": d.pd,
            "pd_interval": {"lower": d.pd_lower, "upper": d.pd_upper} if d.pd_lower is not None else None,
            "approved_amount": str(d.approved_amount) if d.approved_amount is not None else None,
            "reasons": [{"code": r["code"], "description": r["description"]} for r in d.reasons],
            "ruleset_version": d.ruleset_version,
            "model": {"name": d.model_name, "version": d.model_version} if d.model_name else None,
            "feature_version": d.feature_version,
            "degraded": d.degraded,
            "counterfactual": {k: d.counterfactual[k] for k in ("input", "to", "outcome")}
            if d.counterfactual
            else None,
            "review": {
                "status": case.status,
                "final_outcome": case.final_outcome or None,
                "decided_at": case.decided_at.isoformat() if case.decided_at else None,
            }
            if case is not None
            else None,
            "created_at": d.created_at.isoformat(),
        }


def application_from_input(data: dict[str, Any]) -> ApplicationData:
    a, loan = data["applicant"], data["loan"]
    return ApplicationData(
        first_name=a["first_name"],
        last_name=a["last_name"],
        date_of_birth=a["date_of_birth"],
        postcode=a["postcode"],
        uk_resident=a["uk_resident"],
        residential_status=ResidentialStatus(a["residential_status"]),
        months_at_address=a["months_at_address"],
        employment_status=EmploymentStatus(a["employment_status"]),
        months_in_employment=a["months_in_employment"],
        annual_income=a["annual_income"],
        monthly_expenditure=a["monthly_expenditure"],
        existing_debt=a["existing_debt"],
        monthly_debt_payments=a["monthly_debt_payments"],
        dependants=a["dependants"],
        requested_amount=loan["amount"],
        term_months=loan["term_months"],
        purpose=LoanPurpose(loan["purpose"]),
        bankrupt_or_iva=a["bankrupt_or_iva"],
    )


EXAMPLE_REQUEST = {
    "product": "personal-loan",
    "reference": "APP-000123",
    "applicant": {
        "first_name": "Amelia",
        "last_name": "Clarke",
        "date_of_birth": "1988-04-12",
        "postcode": "LS1 4AP",
        "uk_resident": True,
        "residential_status": "mortgage",
        "months_at_address": 62,
        "employment_status": "employed",
        "months_in_employment": 48,
        "annual_income": "41000.00",
        "monthly_expenditure": "1150.00",
        "existing_debt": "3200.00",
        "monthly_debt_payments": "140.00",
        "dependants": 1,
        "bankrupt_or_iva": False,
    },
    "loan": {"amount": "7500.00", "term_months": 36, "purpose": "car"},
}
EXAMPLE_DECISION = {
    "id": "5b0d3f0e-6f7c-4a53-9a55-0d0f9a3c2e11",
    "reference": "APP-000123",
    "product": "personal-loan",
    "outcome": "approve",
    "final_outcome": "approve",
    "pd": 0.0312,
    "pd_interval": {"lower": 0.021, "upper": 0.044},
    "approved_amount": "7500.00",
    "reasons": [],
    "ruleset_version": "builtin-1",
    "model": {"name": "verdict-personal-loan", "version": "1"},
    "feature_version": "fc-1",
    "degraded": False,
    "counterfactual": None,
    "review": None,
    "created_at": "2026-12-04T10:15:02.120000+00:00",
}
EXAMPLE_REFER = dict(
    EXAMPLE_DECISION,
    outcome="refer",
    final_outcome=None,
    pd=0.14,
    approved_amount=None,
    reasons=[{"code": "PD_REFER_BAND", "description": "An underwriter will review your application."}],
    counterfactual={"input": "amount", "to": "6000", "outcome": "approve"},
    review={"status": "open", "final_outcome": None, "decided_at": None},
)


def _client(request: Request) -> IntegrationClient:
    assert isinstance(request.auth, IntegrationClient)
    return request.auth


class DecisionCreateApi(APIView):
    @extend_schema(
        operation_id="decisions_create",
        summary="Decide an application",
        description=(
            "Runs the full decision pipeline and returns the decision. Send an `Idempotency-Key` "
            "header to make retries safe: the same key with the same body returns the stored "
            "decision (200, `Idempotent-Replayed: true`); with a different body, 422."
        ),
        parameters=[
            OpenApiParameter(
                "Idempotency-Key",
                {"type": "string", "pattern": IDEMPOTENCY_KEY.pattern},
                OpenApiParameter.HEADER,
                description="Up to 128 printable ASCII characters, unique per application.",
            )
        ],
        request=DecisionCreateIn,
        responses={
            201: OpenApiResponse(DecisionOut, description="Decided."),
            200: OpenApiResponse(DecisionOut, description="Idempotent replay of a stored decision."),
            400: _error(
                "Invalid request.",
                "invalid",
                "The request is invalid; see `errors`.",
                {"applicant.date_of_birth": ["Date has wrong format. Use one of these formats instead: YYYY-MM-DD."]},
            ),
            413: _error("Body too large.", "payload_too_large", "The request body is larger than 32768 bytes."),
            415: _error("Not JSON.", "unsupported_media_type", "Send the body as application/json."),
            422: _error(
                "Idempotency-Key reused with another body.",
                "idempotency_key_reused",
                "This Idempotency-Key was already used with a different request body.",
            ),
            **AUTH_ERRORS,
        },
        examples=[
            OpenApiExample("Application", value=EXAMPLE_REQUEST, request_only=True),
            OpenApiExample("Approved", value=EXAMPLE_DECISION, response_only=True, status_codes=["201"]),
            OpenApiExample("Referred", value=EXAMPLE_REFER, response_only=True, status_codes=["201", "200"]),
        ],
        tags=["decisions"],
    )
    def post(self, request: Request) -> Response:
        started = time.perf_counter()
        key = request.headers.get("Idempotency-Key")
        if key is not None and not IDEMPOTENCY_KEY.match(key):
            raise ApplicationError(
                "Invalid Idempotency-Key.",
                errors={"Idempotency-Key": ["Use 1–128 printable ASCII characters, no spaces."]},  # noqa: RUF001 — typographic dash
            )
        if not isinstance(request.data, dict):
            raise ApplicationError("The body must be a JSON object.", errors={"non_field_errors": ["Expected a JSON object."]})
        data = decision_input_fast(request.data) or DecisionCreateIn.validated(request.data)
        product = selectors.product_by_code(code=data["product"])
        if product is None:
            raise ApplicationError("Unknown product.", errors={"product": [f"No product with code {data['product']!r}."]})
        result = services.decision_create(
            client=_client(request),
            product=product,
            application=application_from_input(data),
            reference=data["reference"],
            request_body=request.data,
            idempotency_key=key,
            request_id=getattr(request._request, "request_id", ""),
            started=started,
        )
        response = Response(
            DecisionOut(result.decision).data,
            status=status.HTTP_201_CREATED if result.created else status.HTTP_200_OK,
        )
        if not result.created:
            response["Idempotent-Replayed"] = "true"
        return response


class DecisionListApi(APIView):
    class FilterIn(StrictSerializer):
        product = serializers.SlugField(required=False, max_length=40)
        outcome = serializers.ChoiceField(choices=Decision.OutcomeChoice.values, required=False)
        created_from = serializers.DateTimeField(required=False, help_text="Inclusive, ISO 8601.")
        created_to = serializers.DateTimeField(required=False, help_text="Exclusive, ISO 8601.")
        page = serializers.IntegerField(required=False, min_value=1, max_value=1_000_000)
        page_size = serializers.IntegerField(required=False, min_value=1, max_value=200)

        def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
            if "created_from" in attrs and "created_to" in attrs and attrs["created_from"] >= attrs["created_to"]:
                raise serializers.ValidationError({"created_to": ["Must be after created_from."]})
            return attrs

    @extend_schema(
        operation_id="decisions_list",
        summary="List your decisions",
        parameters=[FilterIn],
        responses={
            200: inline_serializer(
                name="DecisionPage",
                fields={
                    "count": serializers.IntegerField(),
                    "next": serializers.URLField(allow_null=True),
                    "previous": serializers.URLField(allow_null=True),
                    "results": DecisionOut(many=True),
                },
            ),
            400: _error("Invalid filter.", "invalid", "The request is invalid; see `errors`.", {"outcome": ['"maybe" is not a valid choice.']}),
            404: _error("Page out of range.", "not_found", "Not found."),
            **AUTH_ERRORS,
        },
        examples=[
            OpenApiExample(
                "A page",
                value={"count": 1, "next": None, "previous": None, "results": [EXAMPLE_DECISION]},
                response_only=True,
            )
        ],
        tags=["decisions"],
    )
    def get(self, request: Request) -> Response:
        filters = self.FilterIn(data=request.query_params.dict())
        filters.is_valid(raise_exception=True)
        params = {k: v for k, v in filters.validated_data.items() if k not in ("page", "page_size")}
        qs = selectors.decision_list(client=_client(request), **params)
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        return paginator.get_paginated_response(DecisionOut(page, many=True).data)


class DecisionDetailApi(APIView):
    @extend_schema(
        operation_id="decisions_retrieve",
        summary="Read a decision",
        description="Includes the final outcome once an underwriter has decided a referred application.",
        responses={200: DecisionOut, **NOT_FOUND, **AUTH_ERRORS},
        examples=[OpenApiExample("Referred, under review", value=EXAMPLE_REFER, response_only=True)],
        tags=["decisions"],
    )
    def get(self, request: Request, decision_id: str) -> Response:
        decision = selectors.decision_get(client=_client(request), decision_id=decision_id)
        return Response(DecisionOut(decision).data)


class LoanOutcomeCreateApi(APIView):
    class LoanOutcomeIn(StrictSerializer):
        status = serializers.ChoiceField(choices=LoanOutcome.Status.values)
        as_of = serializers.DateField(
            help_text="Date the status applies to: from the decision's date to today, inclusive."
        )
        default_date = serializers.DateField(
            required=False,
            allow_null=True,
            default=None,
            help_text="Required when `status` is `defaulted`; between the decision's date and `as_of`.",
        )
        arrears_months = serializers.IntegerField(required=False, min_value=0, max_value=120, default=0)

    class LoanOutcomeOut(serializers.Serializer):
        decision_id = serializers.UUIDField(source="decision.id")
        status = serializers.CharField()
        as_of = serializers.DateField()
        default_date = serializers.DateField(allow_null=True)
        arrears_months = serializers.IntegerField()
        reported_at = serializers.DateTimeField()

    @extend_schema(
        operation_id="decisions_outcome_create",
        summary="Report how a loan performed",
        description="Append-only: each report is kept; the latest `as_of` is the loan's current status.",
        request=LoanOutcomeIn,
        responses={
            201: LoanOutcomeOut,
            400: _error("Invalid report.", "invalid", "A default needs its date.", {"default_date": ["Required when status is defaulted."]}),
            409: _error("The application was not finally approved.", "not_approved", "Outcomes can be reported only for applications that were finally approved."),
            **NOT_FOUND,
            **AUTH_ERRORS,
        },
        examples=[
            OpenApiExample("Defaulted", value={"status": "defaulted", "as_of": "2027-09-30", "default_date": "2027-09-01", "arrears_months": 3}, request_only=True),
            OpenApiExample(
                "Recorded",
                value={"decision_id": EXAMPLE_DECISION["id"], "status": "defaulted", "as_of": "2027-09-30", "default_date": "2027-09-01", "arrears_months": 3, "reported_at": "2027-10-01T08:00:00+00:00"},
                response_only=True,
            ),
        ],
        tags=["decisions"],
    )
    def post(self, request: Request, decision_id: str) -> Response:
        client = _client(request)
        decision = selectors.decision_get(client=client, decision_id=decision_id)
        if not isinstance(request.data, dict):
            raise ApplicationError("The body must be a JSON object.", errors={"non_field_errors": ["Expected a JSON object."]})
        data_in = self.LoanOutcomeIn(data=request.data)
        data_in.is_valid(raise_exception=True)
        outcome = services.loan_outcome_record(client=client, decision=decision, **data_in.validated_data)
        return Response(self.LoanOutcomeOut(outcome).data, status=status.HTTP_201_CREATED)


class ProductListApi(APIView):
    class ProductOut(serializers.Serializer):
        code = serializers.CharField()
        name = serializers.CharField()
        description = serializers.CharField()
        min_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        max_amount = serializers.DecimalField(max_digits=12, decimal_places=2)
        min_term_months = serializers.IntegerField()
        max_term_months = serializers.IntegerField()

    @extend_schema(
        operation_id="products_list",
        summary="Products open for applications",
        responses={200: ProductOut(many=True), **AUTH_ERRORS},
        examples=[
            OpenApiExample(
                "Products",
                value=[{"code": "personal-loan", "name": "Personal loan", "description": "Unsecured loan", "min_amount": "1000.00", "max_amount": "25000.00", "min_term_months": 12, "max_term_months": 60}],
                response_only=True,
            )
        ],
        tags=["products"],
    )
    def get(self, request: Request) -> Response:
        return Response(self.ProductOut(selectors.product_list(), many=True).data)


def not_found_api(request: Any, *args: Any, **kwargs: Any) -> Response:
    raise NotFound()


class DecisionCollectionApi(DecisionListApi, DecisionCreateApi):
    """`/decisions`: GET lists (DecisionListApi), POST decides (DecisionCreateApi)."""
