import json
from collections import Counter, defaultdict
from datetime import UTC

from asgiref.sync import sync_to_async
from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import compare, exports, runner, streaming
from audits.forms import ConnectionForm, FindingFilterForm, NewAuditForm
from audits.models import FRAMEWORK_CHOICES, SEVERITIES, AuditRun, AwsConnection, Finding

RUNS_PER_PAGE = 20
FINDINGS_PER_PAGE = 50
TREND_RUNS = 12
DEFAULT_AEGIS_PRINCIPAL = "arn:aws:iam::<your-aegis-account>:root"
LIVE_SEVERITIES = ["critical", "high", "medium", "low"]


def _get_run(request: HttpRequest, pk: int) -> AuditRun:
    """The run if the user may see it; strangers get a 404 whether or not it exists."""
    if request.user.is_staff:
        return get_object_or_404(AuditRun, pk=pk)
    return get_object_or_404(AuditRun, pk=pk, owner=request.user)


def _get_own_run(request: HttpRequest, pk: int) -> AuditRun:
    """For actions that change a run: staff review runs, they do not pause or cancel them for owners."""
    return get_object_or_404(AuditRun, pk=pk, owner=request.user)


def _get_connection(request: HttpRequest, pk: int) -> AwsConnection:
    return get_object_or_404(AwsConnection, pk=pk, owner=request.user)


# --- dashboard ---------------------------------------------------------------------------------------------------


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    counts = {sev: Count("findings", filter=Q(findings__severity=sev)) for sev in LIVE_SEVERITIES}
    runs = (
        AuditRun.objects.filter(owner=request.user)
        .defer("snapshot", "result", "checkpoint")
        .select_related("connection")
        .annotate(**counts)
        .order_by("-created", "-pk")
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audits/run_list.html",
        {"page": page, "runs": page.object_list, "trends": _trends(request.user), "severities": LIVE_SEVERITIES},
    )


def _trends(user) -> list[dict]:
    """Risk score over the latest completed audits of each account, as SVG coordinates."""
    rows = (
        AuditRun.objects.filter(owner=user, status=AuditRun.Status.COMPLETED, risk_score__isnull=False)
        .exclude(account_id="")
        .order_by("-created")
        .values("pk", "account_id", "risk_score", "created")[:500]
    )
    by_account: dict[str, list[dict]] = defaultdict(list)
    for row in rows:
        if len(by_account[row["account_id"]]) < TREND_RUNS:
            by_account[row["account_id"]].append(row)
    width, height, pad = 240, 64, 6
    trends = []
    for account, points in sorted(by_account.items()):
        points.reverse()
        step = (width - 2 * pad) / max(len(points) - 1, 1)
        dots = []
        for i, row in enumerate(points):
            x = pad + i * step if len(points) > 1 else width / 2
            y = pad + (100 - row["risk_score"]) / 100 * (height - 2 * pad)
            dots.append({"x": round(x, 1), "y": round(y, 1), "score": row["risk_score"], "pk": row["pk"],
                         "created": row["created"]})
        trends.append({
            "account": account,
            "dots": dots,
            "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
            "latest": dots[-1]["score"],
            "delta": dots[-1]["score"] - dots[0]["score"] if len(dots) > 1 else None,
            "width": width,
            "height": height,
        })
    return trends


# --- new audit ---------------------------------------------------------------------------------------------------


@login_required
@require_http_methods(["GET", "POST"])
def new_run(request: HttpRequest) -> HttpResponse:
    form = NewAuditForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        fields: dict = {}
        if data["source"] == AuditRun.Source.SNAPSHOT:
            fields.update(
                snapshot=form.snapshot.to_dict(),
                snapshot_name=data["snapshot_file"].name[:200],
                account_id=form.snapshot.account_id,
            )
        elif data["source"] == AuditRun.Source.CONNECTION:
            fields.update(connection=data["connection"], account_id=data["connection"].account_id)
        try:
            run = runner.start_run(request.user, source=data["source"], frameworks=data["frameworks"], **fields)
        except runner.TooManyActiveRunsError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(run)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/new_run.html", {"form": form}, status=status)


# --- the run page ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    if run.kind == AuditRun.Kind.ORGANIZATION:
        from audits.org_views import org_detail

        return org_detail(request, run)
    if request.htmx and request.htmx.target == "findings":
        return render(request, "audits/run_detail.html#findings", {"run": run, **_results_context(request, run)})
    # Rows are built from plain values: no model instances, no JSON decoding per event.
    events = list(run.events.values_list("seq", "type", "message", "progress", "created"))
    findings = list(Finding.objects.filter(run=run).defer("evidence", "detail", "remediation", "controls"))
    severity_at = {f.seq: f.severity for f in findings}
    rows = []
    for seq, type_, message, progress, created in events:
        moment = created.astimezone(UTC)
        rows.append({
            "seq": seq,
            "type": type_,
            "message": message,
            "progress": progress,
            "iso": moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z",
            "clock": moment.strftime("%H:%M:%S"),
            "severity": severity_at.get(seq, "") if type_ == "finding" else "",
        })
    counts = Counter(f.severity for f in findings)
    context = {
        "run": run,
        "events": rows,
        "last_seq": rows[-1]["seq"] if rows else 0,
        "stats": [(sev, counts.get(sev, 0)) for sev in LIVE_SEVERITIES],
        "live_findings": findings[::-1],
        "framework_names": _framework_names(run),
        # Staff may review anyone's run, but only its owner pauses, resumes or cancels it.
        "can_control": run.owner_id == request.user.pk,
    }
    if run.is_finished or _stored_result(run) is not None:
        context.update(_results_context(request, run))
    return render(request, "audits/run_detail.html", context)


@login_required
@require_GET
def run_results(request: HttpRequest, pk: int) -> HttpResponse:
    """The results block, swapped into the run page when the `complete` event arrives."""
    run = _get_run(request, pk)
    if not request.htmx:
        return redirect(f"{run.get_absolute_url()}#results")
    return render(request, "audits/run_detail.html#results", {"run": run, **_results_context(request, run)})


def _framework_names(run: AuditRun) -> list[str]:
    names = dict(FRAMEWORK_CHOICES)
    return [names.get(key, key) for key in run.frameworks or []]


def _stored_result(run: AuditRun) -> dict | None:
    """The run's result; right after `complete` the worker may not have copied it to the run yet."""
    if run.result is not None:
        return run.result
    event = run.events.filter(type="complete").order_by("-seq").only("payload").first()
    return (event.payload or {}).get("result") if event else None


def _results_context(request: HttpRequest, run: AuditRun) -> dict:
    result = _stored_result(run) or {}
    all_findings = Finding.objects.filter(run=run)
    categories = sorted(set(all_findings.values_list("category", flat=True)))
    frameworks = list(run.frameworks or []) or sorted(result.get("compliance", {}) or {})
    filters = FindingFilterForm(request.GET, categories=categories, frameworks=frameworks)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    shown = all_findings.defer("evidence")
    if chosen.get("severity"):
        shown = shown.filter(severity=chosen["severity"])
    if chosen.get("category"):
        shown = shown.filter(category=chosen["category"])
    if chosen.get("framework"):
        shown = shown.filter(controls__has_key=chosen["framework"])
    if chosen.get("q"):
        shown = shown.filter(Q(principal_name__icontains=chosen["q"]) | Q(principal_arn__icontains=chosen["q"]))
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    ordered = sorted(shown, key=lambda f: (order.get(f.severity, 9), f.seq or 0))
    page = Paginator(ordered, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    score = result.get("risk_score", run.risk_score)
    summary = result.get("audit_summary") or {}
    comparison = compare.compare(run) if run.status == AuditRun.Status.COMPLETED else None
    return {
        "result": result,
        "risk_score": score,
        "risk_band": result.get("risk_band", ""),
        "summary": summary,
        "by_severity": [(sev, (summary.get("by_severity") or {}).get(sev, 0)) for sev in SEVERITIES],
        "compliance": _compliance_tables(result, frameworks),
        "patterns": result.get("patterns") or [],
        "top_risks": result.get("top_risks") or [],
        "filters": filters,
        "filtered": any(chosen.get(name) for name in ("severity", "category", "framework", "q")),
        "findings_page": page,
        "findings_total": all_findings.count(),
        "filter_query": query.urlencode(),
        "severity_links": [(sev, _with_query(query, severity=sev)) for sev in SEVERITIES],
        "comparison": comparison,
        "exports": [(name, reverse("audits:export", args=[run.pk, name])) for name in exports.CONTENT_TYPES],
    }


def _with_query(query, **changes) -> str:
    copy = query.copy()
    for key, value in changes.items():
        copy[key] = value
    return "?" + copy.urlencode()


def _compliance_tables(result: dict, frameworks: list[str]) -> list[dict]:
    names = dict(FRAMEWORK_CHOICES)
    compliance = result.get("compliance") or {}
    tables = []
    for key in frameworks or list(compliance):
        data = compliance.get(key) or {}
        tables.append({
            "key": key,
            "name": data.get("name") or names.get(key, key),
            "controls": data.get("controls") or [],
            "passed": data.get("passed", 0),
            "failed": data.get("failed", 0),
            "not_evaluated": data.get("not_evaluated", 0),
        })
    return tables


@login_required
@require_GET
def finding_detail(request: HttpRequest, pk: int, finding_pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    finding = get_object_or_404(Finding, pk=finding_pk, run=run)
    context = {"run": run, "finding": finding, "controls": _finding_controls(finding), **_evidence(finding.evidence)}
    template = "audits/finding_detail.html#finding" if request.htmx else "audits/finding_detail.html"
    return render(request, template, context)


EVIDENCE_SHOWN = {"statements", "statement", "methods", "method", "how", "actions", "path", "escalation_path"}


def _evidence(evidence) -> dict:
    """Split a finding's evidence into granting statements, escalation steps and the rest, for display."""
    if not isinstance(evidence, dict):
        shown = [("evidence", _pretty(evidence), not _is_plain(evidence))] if evidence else []
        return {"statements": [], "path": [], "other_evidence": shown}
    statements: list[dict] = []

    def add(items) -> None:
        for item in items or []:
            if isinstance(item, dict) and "statement" in item:
                statements.append({"policy": item.get("policy") or "", "sid": item.get("sid") or "",
                                   "json": _pretty(item["statement"])})
            else:
                statements.append({"policy": "", "sid": "", "json": _pretty(item)})

    add(evidence.get("statements"))
    if "statement" in evidence:
        add([{"statement": evidence["statement"]}])
    methods = evidence.get("methods") or ([evidence] if "method" in evidence else [])
    path = []
    for method in methods:
        if isinstance(method, dict):
            path.append({"method": str(method.get("method", "")), "how": str(method.get("how", "")),
                         "actions": [str(a) for a in method.get("actions") or []]})
            if method is not evidence:
                add(method.get("statements"))
    for step in evidence.get("escalation_path") or evidence.get("path") or []:
        path.append({"method": "", "how": step if isinstance(step, str) else _pretty(step), "actions": []})
    other = [(key, _pretty(value), not _is_plain(value)) for key, value in evidence.items()
             if key not in EVIDENCE_SHOWN]
    return {"statements": statements, "path": path, "other_evidence": other}


def _is_plain(value) -> bool:
    """A scalar or a flat list of scalars reads better as text than as JSON."""
    scalars = str | int | float | bool | None
    return isinstance(value, scalars) or (isinstance(value, list) and all(isinstance(v, scalars) for v in value))


def _pretty(value) -> str:
    if isinstance(value, list) and _is_plain(value):
        return ", ".join(str(v) for v in value)
    if isinstance(value, str | int | float):
        return str(value)
    return json.dumps(value, indent=2, sort_keys=True, default=str)


def _finding_controls(finding: Finding) -> list[tuple[str, str]]:
    names = dict(FRAMEWORK_CHOICES)
    controls = finding.controls or {}
    if isinstance(controls, dict):
        return [(names.get(k, k), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
                for k, v in controls.items()]
    return [("Controls", ", ".join(map(str, controls)))]


# --- compare, replay, exports ------------------------------------------------------------------------------------


@login_required
@require_GET
def run_compare(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    return render(request, "audits/compare.html", {"run": run, "comparison": compare.compare(run)})


@login_required
@require_GET
def run_playback(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    try:
        speed = int(streaming.parse_speed(request.GET.get("speed") or "1"))
    except streaming.StreamError:
        speed = 1
    return render(
        request,
        "audits/playback.html",
        {"run": run, "speed": speed, "speeds": [1, 4, 16], "zero_stats": [(sev, 0) for sev in LIVE_SEVERITIES]},
    )


@login_required
@require_GET
def run_export(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run = _get_run(request, pk)
    if name not in exports.CONTENT_TYPES:
        raise Http404("No such export.")
    filename = f"aegis-audit-{run.pk}-{name}"
    if name == "log.txt":
        response = StreamingHttpResponse(exports.log_lines(run), content_type=exports.CONTENT_TYPES[name])
    elif name == "log.ndjson":
        response = StreamingHttpResponse(exports.log_ndjson(run), content_type=exports.CONTENT_TYPES[name])
    else:
        try:
            body = exports.findings_document(run, name)
        except ImportError:
            return HttpResponse("This export is not available yet.\n", status=503, content_type="text/plain")
        if not isinstance(body, str | bytes):
            body = json.dumps(body, indent=2, ensure_ascii=False, default=str)
        response = HttpResponse(body, content_type=exports.CONTENT_TYPES[name])
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


# --- streams -----------------------------------------------------------------------------------------------------


def _sse_response(body) -> StreamingHttpResponse:
    response = StreamingHttpResponse(body, content_type="text/event-stream; charset=utf-8")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"
    return response


async def _stream_view(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    # The ASGI entry point serves these paths with the lean stream app; this view serves the
    # same bytes when Django is reached another way (runserver, the test client).
    if request.method != "GET":
        return HttpResponse("Method not allowed: use GET.\n", status=405, content_type="text/plain")
    user = await request.auser()
    try:
        after = streaming.parse_after(request.headers.get("Last-Event-ID"), request.GET.get("after"))
        speed = streaming.parse_speed(request.GET.get("speed")) if kind == "replay" else 1.0
        opening = await sync_to_async(streaming.open_kind)(kind, user, pk, after)
    except streaming.StreamError as exc:
        return HttpResponse(exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8")
    body = streaming.body_for(kind, opening, speed)
    return HttpResponse(status=204) if body is None else _sse_response(body)


async def run_events(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "events")


async def run_replay(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "replay")


# --- pause, resume, cancel ---------------------------------------------------------------------------------------


@login_required
@require_POST
def pause_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_own_run(request, pk)
    updated = AuditRun.objects.filter(pk=run.pk, status=AuditRun.Status.RUNNING).update(control="pause")
    if not updated:
        messages.error(request, "Only a running audit can be paused.")
    return redirect(run)


@login_required
@require_POST
def resume_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_own_run(request, pk)
    resumable = [AuditRun.Status.PAUSED, AuditRun.Status.INTERRUPTED]
    with transaction.atomic():
        updated = AuditRun.objects.filter(pk=run.pk, status__in=resumable).update(
            status=AuditRun.Status.QUEUED, control=""
        )
        if updated:
            runner.enqueue(run)
    if not updated:
        messages.error(request, "Only a paused or interrupted audit can be resumed.")
    return redirect(run)


@login_required
@require_POST
def cancel_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_own_run(request, pk)
    with transaction.atomic():
        # A run no worker is executing is cancelled here; a running one at its next checkpoint.
        idle = [AuditRun.Status.QUEUED, AuditRun.Status.PAUSED, AuditRun.Status.INTERRUPTED]
        if AuditRun.objects.filter(pk=run.pk, status__in=idle).update(control="cancel"):
            runner.cancel_idle(run.pk)
        elif not AuditRun.objects.filter(pk=run.pk, status=AuditRun.Status.RUNNING).update(control="cancel"):
            messages.error(request, "This audit has already finished.")
    return redirect(run)


# --- AWS connections ---------------------------------------------------------------------------------------------


def aegis_principal() -> str:
    return getattr(settings, "AEGIS_AWS_PRINCIPAL_ARN", DEFAULT_AEGIS_PRINCIPAL)


def trust_policy(connection: AwsConnection) -> str:
    """The trust policy the account owner pastes into the role: only Aegis, only with this ExternalId."""
    policy = {
        "Version": "2012-10-17",
        "Statement": [{
            "Effect": "Allow",
            "Principal": {"AWS": aegis_principal()},
            "Action": "sts:AssumeRole",
            "Condition": {"StringEquals": {"sts:ExternalId": connection.external_id}},
        }],
    }
    return json.dumps(policy, indent=2)


@login_required
@require_http_methods(["GET", "POST"])
def connection_list(request: HttpRequest) -> HttpResponse:
    form = ConnectionForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        connection = form.save(commit=False)
        connection.owner = request.user
        connection.save()
        messages.success(
            request, f"Connection “{connection.name}” added. Paste the trust policy into the role, then verify."
        )
        return redirect("audits:connection", pk=connection.pk)
    connections = AwsConnection.objects.filter(owner=request.user)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/connections.html", {"form": form, "connections": connections}, status=status)


@login_required
@require_GET
def connection_detail(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    return render(
        request,
        "audits/connection_detail.html",
        {"connection": connection, "trust_policy": trust_policy(connection), "principal": aegis_principal()},
    )


@login_required
@require_POST
def connection_verify(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    account_id, error = verify_role(connection.role_arn, connection.external_id)
    if error:
        connection.last_error = error
        connection.save(update_fields=["last_error"])
        messages.error(request, f"Aegis could not assume the role: {error}")
    else:
        connection.account_id = account_id
        connection.verified_at = timezone.now()
        connection.last_error = ""
        connection.save(update_fields=["account_id", "verified_at", "last_error"])
        messages.success(request, f"Verified: Aegis can assume the role in account {account_id}.")
    return redirect("audits:connection", pk=connection.pk)


@login_required
@require_POST
def connection_delete(request: HttpRequest, pk: int) -> HttpResponse:
    connection = _get_connection(request, pk)
    connection.delete()
    messages.success(request, f"Connection “{connection.name}” deleted.")
    return redirect("audits:connections")


def _sts_client():
    import boto3

    return boto3.client("sts", region_name="us-east-1")


def _collect_session_for():
    try:
        from audits.iam.collect import session_for
    except ImportError:
        return None
    return session_for


def _assumed_session(role_arn: str, external_id: str):
    session_for = _collect_session_for()
    if session_for is not None:
        return session_for(role_arn, external_id)
    import boto3

    credentials = _sts_client().assume_role(
        RoleArn=role_arn, RoleSessionName="aegis-verify", ExternalId=external_id, DurationSeconds=900
    )["Credentials"]
    return boto3.Session(
        aws_access_key_id=credentials["AccessKeyId"],
        aws_secret_access_key=credentials["SecretAccessKey"],
        aws_session_token=credentials["SessionToken"],
        region_name="us-east-1",
    )


def verify_role(role_arn: str, external_id: str) -> tuple[str, str]:
    """(account id, "") when the role can be assumed, ("", what AWS said in plain words) otherwise."""
    from botocore.exceptions import BotoCoreError, ClientError, NoCredentialsError

    try:
        session = _assumed_session(role_arn, external_id)
        identity = session.client("sts").get_caller_identity()
    except ClientError as exc:
        error = exc.response.get("Error", {})
        code, text = error.get("Code", "Error"), error.get("Message", str(exc))
        if code == "AccessDenied":
            return "", (f"AWS refused access ({code}): {text}. Check that the role's trust policy names "
                        f"{aegis_principal()} and this ExternalId.")
        return "", f"AWS answered {code}: {text}"
    except NoCredentialsError:
        return "", "Aegis itself has no AWS credentials configured, so it cannot assume roles yet."
    except BotoCoreError as exc:
        return "", f"Could not reach AWS: {exc}"
    except Exception as exc:  # a CollectionError from the collector carries a readable message
        return "", str(exc) or exc.__class__.__name__
    return identity.get("Account", ""), ""
