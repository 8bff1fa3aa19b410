from django.urls import path

from modeling import views

app_name = "modeling"
urlpatterns = [
    path("", views.model_list, name="list"),
    path("<str:name>/<str:version>/", views.model_card, name="card"),
]
