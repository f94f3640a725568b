"""A small JSON API for scripts and CI, authenticated with personal bearer tokens.

The event stream of a run is served at /api/v1/audits/<id>/events by the lean stream app, so
`curl -N -H "Authorization: Bearer $TOKEN" .../api/v1/audits/7/events` follows an audit live.

Starting an audit (POST /api/v1/audits, read-and-write tokens only); `source` is required, `frameworks` defaults
to all five, as the portal's form checks them all ([] asks for none):
    {"source": "demo", "frameworks": ["cis"]}
    {"source": "snapshot", "snapshot": {...authorization details or Aegis bundle...}, "name": "prod.json"}
    {"source": "connection", "connection": 3}                      (a verified connection of the token's owner)
or multipart/form-data with fields source=snapshot, frameworks (repeated) and the file as `snapshot`.
Exports: GET /api/v1/audits/<id>/export/<name> for every name the portal offers (findings.json, .csv, .sarif,
.ocsf.json, log.txt, log.ndjson).
"""

import json
from collections.abc import Callable
from functools import wraps

from django.core.exceptions import RequestDataTooBig
from django.core.files.uploadedfile import SimpleUploadedFile
from django.core.paginator import EmptyPage, Paginator
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods

from audits import exports, uploads
from audits.forms import NewAuditForm, verified_connections
from audits.models import FRAMEWORK_KEYS, AuditRun, AwsConnection
from audits.runs import access, limits, start
from audits.tokens import INVALID_TOKEN, bearer, can_write, user_for_token

READ_ONLY = "This token is read-only: create a read-and-write token to start audits."
MISSING_SOURCE = (
    "Say what to audit: the body needs source (demo, snapshot or connection); with snapshot also snapshot (the "
    "IAM JSON or an Aegis bundle), with connection also connection (its id); frameworks is optional and defaults to "
    f"all of {', '.join(FRAMEWORK_KEYS)}. For example "
    '{"source": "demo"}.'
)


def _error(status: int, message: str) -> JsonResponse:
    return JsonResponse({"error": message}, status=status)


def token_required(view: Callable) -> Callable:
    """Bearer tokens only: no cookies, so no CSRF exposure for the state-changing calls."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        token = bearer(request.headers.get("Authorization"))
        user = user_for_token(token) if token else None
        if user is None:
            message = INVALID_TOKEN if token else "Send a personal API token: 'Authorization: Bearer <token>'."
            response = _error(401, message)
            response["WWW-Authenticate"] = 'Bearer realm="aegis"' + (', error="invalid_token"' if token else "")
            return response
        request.user = user
        return view(request, *args, **kwargs)

    return csrf_exempt(wrapper)


def run_json(request: HttpRequest, run: AuditRun) -> dict:
    return {
        "id": run.pk,
        "status": run.status,
        "source": run.source,
        "frameworks": run.frameworks,
        "account_id": run.account_id,
        "connection": run.connection_id,
        "progress": run.progress,
        "risk_score": run.risk_score,
        "created": run.created.isoformat(),
        "started": run.started.isoformat() if run.started else None,
        "finished": run.finished.isoformat() if run.finished else None,
        "error": run.error or None,
        "url": request.build_absolute_uri(reverse("audits:run", args=[run.pk])),
        "events_url": request.build_absolute_uri(f"/api/v1/audits/{run.pk}/events"),
        "exports": {
            name: request.build_absolute_uri(reverse("api:export", args=[run.pk, name]))
            for name in exports.CONTENT_TYPES
        },
    }


@token_required
@require_http_methods(["GET", "POST"])
def runs(request: HttpRequest) -> JsonResponse:
    if request.method == "POST":
        if not can_write(request.user):
            return _error(403, READ_ONLY)
        try:
            limits.check(request.user)  # before the body is parsed or the snapshot validated
        except start.TooManyActiveRunsError as exc:
            return _error(429, str(exc))
        return _start(request)
    page = Paginator(access.visible_runs(request.user, AuditRun.objects.defer("result")), 50)
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


class BodyTooLargeError(Exception):
    pass


def _body(request: HttpRequest) -> tuple[dict | None, dict, str]:
    """(fields, files, error) from a JSON or multipart body; BodyTooLargeError over the portal's limits."""
    if request.content_type == "multipart/form-data":
        # The portal's upload handler: to a temporary file, stopped at the upload limit while it is read.
        if uploads.read_limited(request):
            raise BodyTooLargeError(uploads.too_large_message())
        fields = {
            "source": request.POST.get("source", "snapshot"),
            "connection": request.POST.get("connection"),
        }
        if "frameworks" in request.POST:
            fields["frameworks"] = request.POST.getlist("frameworks")
        upload = request.FILES.get("snapshot")
        return fields, ({"snapshot_file": upload} if upload else {}), ""
    raw = uploads.read_json_body(request)
    if raw is None:
        raise BodyTooLargeError(uploads.json_too_large_message())
    try:
        body = json.loads(raw or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return None, {}, 'The request body must be JSON, e.g. {"source": "demo", "frameworks": ["cis"]}.'
    if not isinstance(body, dict):
        return None, {}, "The request body must be a JSON object."
    files = {}
    if body.get("snapshot") is not None:
        name = str(body.get("name") or "snapshot.json")[:200]
        data = json.dumps(body["snapshot"]).encode() if not isinstance(body["snapshot"], str) else body["snapshot"]
        files["snapshot_file"] = SimpleUploadedFile(name, data if isinstance(data, bytes) else data.encode())
    return body, files, ""


def _start(request: HttpRequest) -> JsonResponse:
    try:
        body, files, error = _body(request)
    except BodyTooLargeError as exc:
        return _error(413, str(exc))
    except RequestDataTooBig:
        # Django's own limit on the form's other fields (DATA_UPLOAD_MAX_MEMORY_SIZE).
        return _error(413, "The form fields are over the request size limit.")
    if body is None:
        return _error(400, error)
    if "source" not in body:
        return _error(400, MISSING_SOURCE)
    source = body.get("source")
    frameworks = body.get("frameworks", FRAMEWORK_KEYS)
    if source not in AuditRun.Source.values:
        return _error(400, f"source must be one of {', '.join(AuditRun.Source.values)}.")
    if not isinstance(frameworks, list) or not all(f in FRAMEWORK_KEYS for f in frameworks):
        return _error(400, f"frameworks must be a list drawn from {', '.join(FRAMEWORK_KEYS)}.")
    connection = None
    if source == AuditRun.Source.CONNECTION:
        connection, error = _verified_connection(request, body.get("connection"))
        if connection is None:
            return _error(400, error)
    if source == AuditRun.Source.SNAPSHOT and not files:
        return _error(
            400,
            'Send the snapshot: {"source": "snapshot", "snapshot": {...}} or a multipart file '
            "field named 'snapshot'.",
        )
    data = {"source": source, "frameworks": list(dict.fromkeys(frameworks))}
    if connection is not None:
        data["connection"] = str(connection.pk)
    form = NewAuditForm(data, files, user=request.user)
    if not form.is_valid():
        messages = [str(m) for errors in form.errors.values() for m in errors]
        return _error(400, " ".join(messages) or "The audit could not be started.")
    return _create(request, form)


def _verified_connection(request: HttpRequest, value) -> tuple[AwsConnection | None, str]:
    if not isinstance(value, int | str) or not str(value).isdigit() or len(str(value)) > 18:
        return None, "connection must be the id of one of your AWS connections."
    connection = AwsConnection.objects.filter(owner=request.user, pk=int(value)).first()
    if connection is None:
        return None, "No such AWS connection."
    if not verified_connections(request.user).filter(pk=connection.pk).exists():
        return None, (
            f"The connection '{connection.name}' is not verified: verify it in the portal (Connections) "
            "before auditing through it."
        )
    return connection, ""


def _create(request: HttpRequest, form: NewAuditForm) -> JsonResponse:
    try:
        run = start.start_from_form(request.user, form)
    except start.TooManyActiveRunsError as exc:
        return _error(429, str(exc))
    return JsonResponse({"run": run_json(request, run)}, status=201)


@token_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> JsonResponse:
    run = access.find_visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    return JsonResponse({"run": run_json(request, run), "result": run.result})


@token_required
@require_GET
def run_findings(request: HttpRequest, pk: int) -> JsonResponse:
    run = access.find_visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    rows = list(run.findings.all())
    notes = exports.suppression_notes(run, rows)
    findings = [f.to_dict() | {"suppressed": f.suppressed, "muted_by": exports.marks(f, notes).get("muted_by", "")}
                for f in rows]  # fmt: skip
    return JsonResponse({"run": run.pk, "count": len(findings), "findings": findings})


@token_required
@require_GET
def run_export(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run = access.find_visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    if name not in exports.CONTENT_TYPES:
        return _error(404, f"No such export; choose one of {', '.join(exports.CONTENT_TYPES)}.")
    return exports.response_for(run, name)
