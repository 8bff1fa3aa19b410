from django.urls import path

from reviews import views

app_name = "reviews"
urlpatterns = [
    path("", views.queue, name="queue"),
    path("metrics/", views.metrics_page, name="metrics"),
    path("cases/<int:case_id>/", views.case_detail, name="case"),
    path("cases/<int:case_id>/claim", views.case_claim, name="claim"),
    path("cases/<int:case_id>/release", views.case_release, name="release"),
    path("cases/<int:case_id>/assign", views.case_assign, name="assign"),
    path("cases/<int:case_id>/decide", views.case_decide, name="decide"),
    path("cases/<int:case_id>/request-info", views.case_request_info, name="request_info"),
    path(
        "cases/<int:case_id>/approve-override", views.case_approve_override, name="approve_override"
    ),
    path("cases/<int:case_id>/reject-override", views.case_reject_override, name="reject_override"),
    path("decisions/<uuid:decision_id>/appeal", views.appeal_open, name="appeal"),
]
