from django.urls import path

from decisioning import apis

urlpatterns = [
    path("decisions", apis.DecisionCollectionApi.as_view(), name="api-decisions"),
    path("decisions/<str:decision_id>", apis.DecisionDetailApi.as_view(), name="api-decision-detail"),
    path(
        "decisions/<str:decision_id>/outcome",
        apis.LoanOutcomeCreateApi.as_view(),
        name="api-decision-outcome",
    ),
    path("products", apis.ProductListApi.as_view(), name="api-products"),
]
