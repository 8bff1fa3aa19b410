from django.urls import path

from monitoring import views

app_name = "monitoring"
urlpatterns = [
    path("", views.dashboard, name="dashboard"),
    path("<slug:product>/features/<str:feature>/", views.feature_detail, name="feature"),
    path("alerts/<uuid:alert_id>/acknowledge/", views.alert_acknowledge, name="acknowledge"),
]
