from django.urls import path

from audits import api, query_views, simulate_api, whatif_views

app_name = "api"

urlpatterns = [
    path("audits", api.runs, name="runs"),
    path("audits/<int:pk>", api.run_detail, name="run"),
    path("audits/<int:pk>/findings", api.run_findings, name="findings"),
    path("audits/<int:pk>/query", query_views.api_query, name="query"),
    path("audits/<int:pk>/whatif", whatif_views.api_whatif, name="whatif"),
    path("audits/<int:pk>/export/<str:name>", api.run_export, name="export"),
    path("simulate", simulate_api.simulate_view, name="simulate"),
]
