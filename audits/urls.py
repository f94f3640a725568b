from django.urls import path

from audits import (
    connection_views,
    mutelist_views,
    org_views,
    query_views,
    review_views,
    schedule_views,
    views,
    whatif_views,
)

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
    path("<int:pk>/query", query_views.query_page, name="query"),
    path("<int:pk>/whatif", whatif_views.whatif_page, name="whatif"),
    path("<int:pk>/export/<str:name>", views.run_export, name="export"),
    path("<int:pk>/pause", views.pause_run, name="pause"),
    path("<int:pk>/resume", views.resume_run, name="resume"),
    path("<int:pk>/cancel", views.cancel_run, name="cancel"),
    path("review/", review_views.review_queue, name="review_queue"),
    path("review/<int:pk>/", review_views.review_run, name="review_run"),
    path("review/<int:pk>/findings/<int:finding_pk>/accept", review_views.accept_risk, name="accept_risk"),
    path("review/<int:pk>/findings/<int:finding_pk>/unaccept", review_views.unaccept_risk, name="unaccept_risk"),
    path("review/mutelist/", mutelist_views.mutelist_page, name="mutelist"),
    path("review/mutelist/import", mutelist_views.mutelist_import, name="mutelist_import"),
    path("review/mutelist/export.yaml", mutelist_views.mutelist_export, name="mutelist_export"),
    path("review/mutelist/<int:pk>/delete", mutelist_views.mutelist_delete, name="mutelist_delete"),
    path("connections/", connection_views.connection_list, name="connections"),
    path("connections/<int:pk>/", connection_views.connection_detail, name="connection"),
    path("connections/<int:pk>/verify", connection_views.connection_verify, name="connection_verify"),
    path("connections/<int:pk>/delete", connection_views.connection_delete, name="connection_delete"),
    path("connections/<int:pk>/schedule", schedule_views.connection_schedule, name="connection_schedule"),
    path("<int:pk>/org/schedule", schedule_views.org_schedule, name="org_schedule"),
    path("<int:pk>/retry", views.retry_run, name="retry"),
    path("<int:pk>/timeline", views.run_timeline, name="timeline"),
    path("<int:pk>/head", views.run_head, name="head"),
]
