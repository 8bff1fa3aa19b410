from django.urls import path

from modeling import apis, views

app_name = "modeling"
urlpatterns = [
    path("", views.model_list, name="list"),
    path("shadow/", views.shadow_index, name="shadow"),
    path("shadow/<slug:product_code>/start", views.challenger_start, name="challenger-start"),
    path("shadow/<slug:product_code>/rollback", views.rollback, name="rollback"),
    path("shadow/<slug:product_code>/<str:version>/", views.shadow_report, name="shadow-report"),
    path("shadow/<slug:product_code>/<str:version>/promote", views.promote, name="promote"),
    path("shadow/<slug:product_code>/<str:version>/stop", views.challenger_stop, name="challenger-stop"),
    path("api/shadow/<slug:product_code>/<str:version>", apis.ShadowReportApi.as_view(), name="api-shadow-report"),
    path("<str:name>/<str:version>/", views.model_card, name="card"),
]
