"""Which runs a person may see: the one rule the pages, the API, the live stream and the compare picker apply.

Owners see their own runs; staff see everyone's, for review, with a signed-in session only: the user an API token
stands for is a copy with staff rights off (audits.tokens.acting_user), so on every token path a token reaches its
owner's runs only. Changing a run (pause, resume, cancel, retry, a schedule) is for its owner alone. A run nobody
may see answers 404, the same as a run that does not exist.
"""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404

from audits.models import AuditRun


def may_see(user: Any, owner_id: int) -> bool:
    return owner_id == user.pk or bool(user.is_staff)


def visible_runs(user: Any, runs: QuerySet[AuditRun] | None = None) -> QuerySet[AuditRun]:
    """The runs (of `runs`, else all) the user may see."""
    runs = AuditRun.objects.all() if runs is None else runs
    return runs if user.is_staff else runs.filter(owner=user)


def own_runs(user: Any, runs: QuerySet[AuditRun] | None = None) -> QuerySet[AuditRun]:
    """The user's own runs, staff or not: the dashboard, and the runs they may change."""
    runs = AuditRun.objects.all() if runs is None else runs
    return runs.filter(owner=user)


def _page_runs() -> QuerySet[AuditRun]:
    # The input snapshot can be tens of megabytes; no page reads it.
    return AuditRun.objects.defer("checkpoint")


def get_visible_run(request: HttpRequest, pk: int, **filters: Any) -> AuditRun:
    """The run if the request's user may see it; strangers get a 404 whether or not it exists."""
    return get_object_or_404(visible_runs(request.user, _page_runs()), pk=pk, **filters)


def get_own_run(request: HttpRequest, pk: int, **filters: Any) -> AuditRun:
    """For actions that change a run: staff review runs, they do not pause or cancel them for owners."""
    return get_object_or_404(own_runs(request.user, _page_runs()), pk=pk, **filters)


def find_visible_run(request: HttpRequest, pk: int) -> AuditRun | None:
    """get_visible_run for the API, which answers a stranger with its own JSON 404."""
    return visible_runs(request.user).filter(pk=pk).first()
