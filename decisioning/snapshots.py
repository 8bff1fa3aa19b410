"""Stored rows back into the value objects of the decision core (replay, simulation, batches)."""

from __future__ import annotations

from decisioning.engine.pipeline import Limits
from decisioning.engine.types import (
    ApplicationData,
    EmploymentStatus,
    LoanPurpose,
    ResidentialStatus,
)
from decisioning.models import Application, Product


def application_data(row: Application) -> ApplicationData:
    """The application exactly as it was decided (typed columns are the stored inputs)."""
    return ApplicationData(
        first_name=row.first_name,
        last_name=row.last_name,
        date_of_birth=row.date_of_birth,
        postcode=row.postcode,
        uk_resident=row.uk_resident,
        residential_status=ResidentialStatus(row.residential_status),
        months_at_address=row.months_at_address,
        employment_status=EmploymentStatus(row.employment_status),
        months_in_employment=row.months_in_employment,
        annual_income=row.annual_income,
        monthly_expenditure=row.monthly_expenditure,
        existing_debt=row.existing_debt,
        monthly_debt_payments=row.monthly_debt_payments,
        dependants=row.dependants,
        requested_amount=row.requested_amount,
        term_months=row.term_months,
        purpose=LoanPurpose(row.purpose),
        bankrupt_or_iva=row.bankrupt_or_iva,
        submitted_at=row.submitted_at,
    )


def limits_of(product: Product) -> Limits:
    """The product's lending limits as the pipeline sees them (a historical product row works too)."""
    return Limits(
        min_amount=product.min_amount,
        max_amount=product.max_amount,
        min_term_months=product.min_term_months,
        max_term_months=product.max_term_months,
    )
