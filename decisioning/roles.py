"""The staff roles (Django groups, created by a data migration). Integration clients are not
users: they authenticate to the API with tokens (`decisioning.ApiToken`)."""

UNDERWRITER = "underwriter"
SENIOR_UNDERWRITER = "senior_underwriter"
RISK_ANALYST = "risk_analyst"
RISK_MANAGER = "risk_manager"
AUDITOR = "auditor"

ALL_ROLES = (UNDERWRITER, SENIOR_UNDERWRITER, RISK_ANALYST, RISK_MANAGER, AUDITOR)

#: Roles that work in the Django admin (analysts edit policy; managers publish; auditors read).
STAFF_ROLES = (RISK_ANALYST, RISK_MANAGER, AUDITOR)
