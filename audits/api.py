"""A small JSON API for scripts and CI, authenticated with personal bearer tokens.

The event stream of a run is served at /api/v1/audits/<id>/events by the lean stream app, so
`curl -N -H "Authorization: Bearer $TOKEN" .../api/v1/audits/7/events` follows an audit live.
"""

import json
from collections.abc import Callable
from functools import wraps

from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from audits import runner
from audits.models import FRAMEWORK_KEYS, AuditRun
from audits.tokens import bearer, user_for_token

SOURCES_BY_API = {AuditRun.Source.DEMO, AuditRun.Source.SNAPSHOT, AuditRun.Source.CONNECTION}


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def token_required(view: Callable) -> Callable:
    """Bearer tokens only: no cookies, so no CSRF exposure for the state-changing calls."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        token = bearer(request.headers.get("Authorization"))
        user = user_for_token(token) if token else None
        if user is None:
            response = _error(401, "Send a valid personal API token: 'Authorization: Bearer <token>'.")
            response["WWW-Authenticate"] = 'Bearer realm="aegis"'
            return response
        request.user = user
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def _visible_run(request: HttpRequest, pk: int) -> AuditRun | None:
    runs = AuditRun.objects.all()
    if not request.user.is_staff:
        runs = runs.filter(owner=request.user)
    return runs.filter(pk=pk).first()


def run_json(request: HttpRequest, run: AuditRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "source": run.source,
        "frameworks": run.frameworks,
        "account_id": run.account_id,
        "progress": run.progress,
        "risk_score": run.risk_score,
        "created": run.created.isoformat(),
        "started": run.started.isoformat() if run.started else None,
        "finished": run.finished.isoformat() if run.finished else None,
        "error": run.error or None,
        "url": request.build_absolute_uri(reverse("audits:run", args=[run.pk])),
        "events_url": request.build_absolute_uri(f"/api/v1/audits/{run.pk}/events"),
    }


@token_required
@require_http_methods(["GET", "POST"])
def runs(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        return _start(request)
    page = Paginator(AuditRun.objects.filter(owner=request.user).defer("result"), 50)
    try:
        current = page.page(int(request.GET.get("page", "1")))
    except ValueError:
        return _error(400, "page must be a whole number from 1.")
    except EmptyPage:
        return _error(404, "No such page.")
    return JsonResponse(
        {
            "runs": [run_json(request, run) for run in current],
            "page": current.number,
            "pages": page.num_pages,
            "count": page.count,
        }
    )


def _start(request: HttpRequest) -> JsonResponse:
    try:
        body = json.loads(request.body or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError):
        return _error(400, "The request body must be JSON, e.g. {\"source\": \"demo\", \"frameworks\": [\"cis\"]}.")
    if not isinstance(body, dict):
        return _error(400, "The request body must be a JSON object.")
    source = body.get("source", "demo")
    frameworks = body.get("frameworks", [])
    if source != AuditRun.Source.DEMO:
        # Snapshots and connections are started from the portal, where uploads are validated.
        return _error(400, "Through the API, source must be 'demo'; upload snapshots in the portal.")
    if not isinstance(frameworks, list) or not all(f in FRAMEWORK_KEYS for f in frameworks):
        return _error(400, f"frameworks must be a list drawn from {', '.join(FRAMEWORK_KEYS)}.")
    try:
        run = runner.start_run(request.user, source=source, frameworks=list(dict.fromkeys(frameworks)))
    except runner.TooManyActiveRunsError as exc:
        return _error(429, str(exc))
    return JsonResponse({"run": run_json(request, run)}, status=201)


@token_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> JsonResponse:
    run = _visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    return JsonResponse({"run": run_json(request, run), "result": run.result})


@token_required
@require_GET
def run_findings(request: HttpRequest, pk: int) -> JsonResponse:
    run = _visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    findings = [f.to_dict() | {"suppressed": f.suppressed} for f in run.findings.all()]
    return JsonResponse({"run": run.pk, "count": len(findings), "findings": findings})
