from django.urls import path

from audits import org_views, views

app_name = "audits"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new", views.new_run, name="new"),
    path("new-organization", org_views.new_org_run, name="new_org"),
    path("<int:pk>/org/pause", org_views.org_pause, name="org_pause"),
    path("<int:pk>/org/resume", org_views.org_resume, name="org_resume"),
    path("<int:pk>/org/cancel", org_views.org_cancel, name="org_cancel"),
    path("<int:pk>/", views.run_detail, name="run"),
    path("<int:pk>/events", views.run_events, name="events"),
    path("<int:pk>/replay", views.run_replay, name="replay"),
    # The replay page; /replay itself is the stream the page follows.
    path("<int:pk>/playback", views.run_playback, name="playback"),
    path("<int:pk>/results", views.run_results, name="results"),
    path("<int:pk>/findings/<int:finding_pk>/", views.finding_detail, name="finding"),
    path("<int:pk>/compare", views.run_compare, name="compare"),
    path("<int:pk>/export/<str:name>", views.run_export, name="export"),
    path("<int:pk>/pause", views.pause_run, name="pause"),
    path("<int:pk>/resume", views.resume_run, name="resume"),
    path("<int:pk>/cancel", views.cancel_run, name="cancel"),
    path("connections/", views.connection_list, name="connections"),
    path("connections/<int:pk>/", views.connection_detail, name="connection"),
    path("connections/<int:pk>/verify", views.connection_verify, name="connection_verify"),
    path("connections/<int:pk>/delete", views.connection_delete, name="connection_delete"),
]
