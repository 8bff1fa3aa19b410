"""Parsing of the reviewer's forms. Rules (rationale length, reason codes, four-eyes) live in the
services; a form only declares what a reviewer may send. Anything else in the POST — a reviewer,
an assignee, a decided_by — is never read: identity comes from the session."""

from __future__ import annotations

from typing import Any

from django import forms

from reviews.models import ReviewCase
from reviews.selectors import reason_catalogue


class VersionForm(forms.Form):
    version = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


class RationaleForm(VersionForm):
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,  # the service says what is missing, in the same words everywhere
        max_length=4000,
        label="Rationale",
    )


class DecideForm(RationaleForm):
    outcome = forms.ChoiceField(
        choices=ReviewCase.FinalOutcome.choices, widget=forms.RadioSelect, label="Decision"
    )
    reason_codes = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        label="Reason codes (required to decline)",
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["reason_codes"].choices = [
            (code, f"{code} — {text}") for code, text in sorted(reason_catalogue().items())
        ]


class AssignForm(VersionForm):
    assignee = forms.IntegerField(label="Assign to")


class AppealForm(forms.Form):
    rationale = forms.CharField(
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        max_length=4000,
        label="Grounds for the appeal",
    )
