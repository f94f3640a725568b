from django.urls import path

from audits import views

app_name = "audits"

urlpatterns = [
    path("", views.run_list, name="list"),
    path("new", views.new_run, name="new"),
    path("<int:pk>/", views.run_detail, name="run"),
    path("<int:pk>/events", views.run_events, name="events"),
    path("<int:pk>/replay", views.run_replay, name="replay"),
    path("<int:pk>/pause", views.pause_run, name="pause"),
    path("<int:pk>/resume", views.resume_run, name="resume"),
    path("<int:pk>/cancel", views.cancel_run, name="cancel"),
]
