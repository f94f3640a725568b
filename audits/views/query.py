""" "Who can...?": the evaluator's answer for one action (and resource) on a run's snapshot, as a page and in the API.

The run's input is read through _snapshot_of(run): the RunInput row (gzip JSON) when it exists, else the legacy
AuditRun.snapshot field, else the bundled demo account for demo runs, so it works before and after the input
moves out of the run row. The question is checked before anything is read, and the work is bounded (query_guard):
a few questions at a time per process, a snapshot size limit, a time limit.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from audits import query_guard
from audits.iam.query import QueryError, QueryTimeoutError, check_question, who_can
from audits.iam.snapshot import AccountSnapshot, SnapshotError, load_demo_snapshot
from audits.models import AuditRun
from audits.runs import access
from audits.views.api import _error, token_required


class NoInputError(Exception):
    """The run keeps no snapshot to ask about."""


def _snapshot_of(run: AuditRun) -> AccountSnapshot:
    stored = query_guard.load_stored_input(run)
    if stored is not None:
        return stored
    if run.source == AuditRun.Source.DEMO:
        return load_demo_snapshot()
    raise NoInputError("This audit keeps no snapshot to ask about.")


@dataclass(frozen=True)
class Answer:
    decisions: list[dict] | None = None  # None: no answer (no question yet, or an error)
    error: str = ""
    status: int = 200
    retry_after: int | None = None

    def headers(self) -> dict[str, str]:
        return {"Retry-After": str(self.retry_after)} if self.retry_after else {}


def _answer(run: AuditRun, params) -> Answer:
    action = (params.get("action") or "").strip()
    if not action:
        return Answer()
    try:
        action, resource, principal = check_question(action, params.get("resource"), params.get("principal"))
        with query_guard.query_slot():
            snapshot = _snapshot_of(run)
            return Answer(who_can(snapshot, action, resource, principal, time_limit=query_guard.QUERY_SECONDS))
    except query_guard.RefusedError as exc:
        return Answer(error=str(exc), status=exc.status, retry_after=exc.retry_after)
    except QueryTimeoutError as exc:
        return Answer(error=str(exc), status=422)
    except (QueryError, NoInputError, SnapshotError) as exc:
        return Answer(error=str(exc), status=400)
    except (OSError, EOFError, ValueError):  # a corrupt stored input: a message, not a 500
        return Answer(error="This audit's stored snapshot cannot be read.", status=400)


@login_required
@require_GET
def query_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    answer = _answer(run, request.GET)
    decisions = answer.decisions
    counts = (
        {v: sum(d["decision"] == v for d in decisions) for v in ("allowed", "conditional", "denied")}
        if decisions is not None
        else {}
    )
    response = render(
        request,
        "audits/query.html",
        {
            "run": run,
            "decisions": decisions,
            "error": answer.error,
            "counts": counts,
            "action": request.GET.get("action", ""),
            "resource": request.GET.get("resource", ""),
            "principal": request.GET.get("principal", ""),
        },
        status=answer.status,
    )
    for name, value in answer.headers().items():
        response[name] = value
    return response


@token_required
@require_GET
def api_query(request: HttpRequest, pk: int) -> JsonResponse:
    run = access.find_visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    if not (request.GET.get("action") or "").strip():
        return _error(400, "Pass ?action=service:Action (and optionally resource=ARN, principal=ARN).")
    answer = _answer(run, request.GET)
    if answer.error:
        response = _error(answer.status, answer.error)
        for name, value in answer.headers().items():
            response[name] = value
        return response
    return JsonResponse(
        {
            "run": run.pk,
            "action": request.GET["action"],
            "resource": request.GET.get("resource") or "*",
            "decisions": answer.decisions,
        }
    )
