""" "Who can...?": the evaluator's answer for one action (and resource) on a run's snapshot, as a page and in the API.

The run's input is read through _snapshot_of(run): the RunInput row (gzip JSON) when it exists, else the legacy
AuditRun.snapshot field, else the bundled demo account for demo runs, so it works before and after the input
moves out of the run row.
"""

from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audits import run_inputs
from audits.api import _error, _visible_run, token_required
from audits.iam.query import QueryError, who_can
from audits.iam.snapshot import AccountSnapshot, SnapshotError, load_demo_snapshot
from audits.models import AuditRun
from audits.views import _get_run


class NoInputError(Exception):
    """The run keeps no snapshot to ask about."""


def _snapshot_of(run: AuditRun) -> AccountSnapshot:
    if run_inputs.has_input(run.pk):
        return run_inputs.load_input(run.pk)
    if run.source == AuditRun.Source.DEMO:
        return load_demo_snapshot()
    raise NoInputError("This audit keeps no snapshot to ask about.")


def _answer(run: AuditRun, params) -> tuple[list[dict] | None, str]:
    """(decisions, error message); no action asked yet gives (None, "")."""
    action = (params.get("action") or "").strip()
    if not action:
        return None, ""
    try:
        return who_can(_snapshot_of(run), action, params.get("resource"), params.get("principal")), ""
    except (QueryError, NoInputError, SnapshotError) as exc:
        return None, str(exc)
    except (OSError, ValueError):  # a corrupt stored input: a message, not a 500
        return None, "This audit's stored snapshot cannot be read."


@login_required
@require_GET
def query_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    decisions, error = _answer(run, request.GET)
    counts = (
        {v: sum(d["decision"] == v for d in decisions) for v in ("allowed", "conditional", "denied")}
        if decisions is not None
        else {}
    )
    return render(
        request,
        "audits/query.html",
        {
            "run": run,
            "decisions": decisions,
            "error": error,
            "counts": counts,
            "action": request.GET.get("action", ""),
            "resource": request.GET.get("resource", ""),
            "principal": request.GET.get("principal", ""),
        },
        status=400 if error else 200,
    )


@token_required
@require_GET
def api_query(request: HttpRequest, pk: int) -> JsonResponse:
    run = _visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    if not (request.GET.get("action") or "").strip():
        return _error(400, "Pass ?action=service:Action (and optionally resource=ARN, principal=ARN).")
    decisions, error = _answer(run, request.GET)
    if error:
        return _error(400, error)
    return JsonResponse(
        {
            "run": run.pk,
            "action": request.GET["action"],
            "resource": request.GET.get("resource") or "*",
            "decisions": decisions,
        }
    )
