from django.urls import path

from audit import apis, views

app_name = "audit"
urlpatterns = [
    path("", views.index, name="index"),
    path("verify", views.verify, name="verify"),
    path("decisions/", views.lookup, name="lookup"),
    path("decisions/<str:decision_id>/", views.dossier, name="dossier"),
    path("decisions/<str:decision_id>/pdf", views.dossier_as_pdf, name="dossier-pdf"),
    path("decisions/<str:decision_id>/replay", views.replay, name="replay"),
    path("api/exports", apis.ExportCreateApi.as_view(), name="api-exports"),
]
