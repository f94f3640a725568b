from django.urls import path

from audits.views import api, query, simulate, whatif

app_name = "api"

urlpatterns = [
    path("audits", api.runs, name="runs"),
    path("audits/<int:pk>", api.run_detail, name="run"),
    path("audits/<int:pk>/findings", api.run_findings, name="findings"),
    path("audits/<int:pk>/query", query.api_query, name="query"),
    path("audits/<int:pk>/whatif", whatif.api_whatif, name="whatif"),
    path("audits/<int:pk>/export/<str:name>", api.run_export, name="export"),
    path("simulate", simulate.simulate_view, name="simulate"),
]
