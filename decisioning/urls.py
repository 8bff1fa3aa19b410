from django.urls import path

from decisioning import apis, batch_apis

urlpatterns = [
    path("decisions", apis.DecisionCollectionApi.as_view(), name="api-decisions"),
    path("decisions/<str:decision_id>", apis.DecisionDetailApi.as_view(), name="api-decision-detail"),
    path(
        "decisions/<str:decision_id>/outcome",
        apis.LoanOutcomeCreateApi.as_view(),
        name="api-decision-outcome",
    ),
    path("products", apis.ProductListApi.as_view(), name="api-products"),
    path("batches", batch_apis.BatchCreateApi.as_view(), name="api-batches"),
    path("batches/<str:batch_id>", batch_apis.BatchDetailApi.as_view(), name="api-batch-detail"),
    path("batches/<str:batch_id>/results", batch_apis.BatchResultsApi.as_view(), name="api-batch-results"),
]
