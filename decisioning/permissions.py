"""Who may do what: django-rules predicates, checked with `user.has_perm(...)` everywhere."""

from __future__ import annotations

import rules

from decisioning import roles

is_underwriter = rules.is_group_member(roles.UNDERWRITER)
is_senior_underwriter = rules.is_group_member(roles.SENIOR_UNDERWRITER)
is_risk_analyst = rules.is_group_member(roles.RISK_ANALYST)
is_risk_manager = rules.is_group_member(roles.RISK_MANAGER)
is_auditor = rules.is_group_member(roles.AUDITOR)

is_any_underwriter = is_underwriter | is_senior_underwriter

rules.add_perm(
    "decisioning.view_decisions",
    is_any_underwriter | is_risk_analyst | is_risk_manager | is_auditor,
)
rules.add_perm("decisioning.edit_policy", is_risk_analyst | is_risk_manager)
rules.add_perm("decisioning.publish_policy", is_risk_manager)
rules.add_perm("decisioning.manage_integrations", is_risk_manager | rules.is_superuser)
rules.add_perm("modeling.promote_model", is_risk_manager)
rules.add_perm("modeling.view_models", is_risk_analyst | is_risk_manager | is_auditor)
rules.add_perm("reviews.view_queue", is_any_underwriter | is_risk_manager | is_auditor)
rules.add_perm("reviews.work_cases", is_any_underwriter)
rules.add_perm("reviews.assign_cases", is_senior_underwriter)
rules.add_perm("reviews.approve_overrides", is_senior_underwriter)
rules.add_perm("monitoring.view_dashboard", is_risk_manager | is_auditor)
rules.add_perm("audit.view_audit", is_auditor | is_risk_manager)
rules.add_perm("audit.export", is_auditor)
rules.add_perm("auth.change_roles", is_risk_manager | rules.is_superuser)
