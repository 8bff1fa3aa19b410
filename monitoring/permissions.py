"""Monitoring rights beyond viewing (`monitoring.view_dashboard` is in decisioning.permissions).

Acknowledging is an action with an owner: risk managers (model owners) take it; auditors see the
dashboard and who acknowledged what, but do not act.
"""

from __future__ import annotations

import rules

from decisioning.permissions import is_risk_manager

rules.add_perm("monitoring.acknowledge_alerts", is_risk_manager)
