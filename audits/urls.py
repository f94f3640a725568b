from django.urls import path

from audits.views import connections, mutelist, organizations, query, review, runs, schedules, whatif

app_name = "audits"

urlpatterns = [
    path("", runs.run_list, name="list"),
    path("new", runs.new_run, name="new"),
    path("new-organization", organizations.new_org_run, name="new_org"),
    path("<int:pk>/org/pause", organizations.org_pause, name="org_pause"),
    path("<int:pk>/org/resume", organizations.org_resume, name="org_resume"),
    path("<int:pk>/org/cancel", organizations.org_cancel, name="org_cancel"),
    path("<int:pk>/", runs.run_detail, name="run"),
    path("<int:pk>/events", runs.run_events, name="events"),
    path("<int:pk>/replay", runs.run_replay, name="replay"),
    # The replay page; /replay itself is the stream the page follows.
    path("<int:pk>/playback", runs.run_playback, name="playback"),
    path("<int:pk>/results", runs.run_results, name="results"),
    path("<int:pk>/findings/<int:finding_pk>/", runs.finding_detail, name="finding"),
    path("<int:pk>/compare", runs.run_compare, name="compare"),
    path("<int:pk>/query", query.query_page, name="query"),
    path("<int:pk>/whatif", whatif.whatif_page, name="whatif"),
    path("<int:pk>/export/<str:name>", runs.run_export, name="export"),
    path("<int:pk>/pause", runs.pause_run, name="pause"),
    path("<int:pk>/resume", runs.resume_run, name="resume"),
    path("<int:pk>/cancel", runs.cancel_run, name="cancel"),
    path("review/", review.review_queue, name="review_queue"),
    path("review/<int:pk>/", review.review_run, name="review_run"),
    path("review/<int:pk>/findings/<int:finding_pk>/accept", review.accept_risk, name="accept_risk"),
    path("review/<int:pk>/findings/<int:finding_pk>/unaccept", review.unaccept_risk, name="unaccept_risk"),
    path("review/mutelist/", mutelist.mutelist_page, name="mutelist"),
    path("review/mutelist/import", mutelist.mutelist_import, name="mutelist_import"),
    path("review/mutelist/export.yaml", mutelist.mutelist_export, name="mutelist_export"),
    path("review/mutelist/<int:pk>/delete", mutelist.mutelist_delete, name="mutelist_delete"),
    path("connections/", connections.connection_list, name="connections"),
    path("connections/<int:pk>/", connections.connection_detail, name="connection"),
    path("connections/<int:pk>/verify", connections.connection_verify, name="connection_verify"),
    path("connections/<int:pk>/delete", connections.connection_delete, name="connection_delete"),
    path("connections/<int:pk>/schedule", schedules.connection_schedule, name="connection_schedule"),
    path("<int:pk>/org/schedule", schedules.org_schedule, name="org_schedule"),
    path("<int:pk>/retry", runs.retry_run, name="retry"),
    path("<int:pk>/timeline", runs.run_timeline, name="timeline"),
    path("<int:pk>/head", runs.run_head, name="head"),
]
