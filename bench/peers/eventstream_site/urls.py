import django_eventstream
from django.urls import include, path

from eventstream_site import views

urlpatterns = [
    path(
        "audits/<int:run_id>/events",
        include(django_eventstream.urls),
        {"format-channels": ["run-{run_id}"]},
    ),
    path("_bench/start", views.start),
    path("_bench/stats", views.stats),
]
