import json
from collections import defaultdict

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db.models import Case, Count, F, Min, Q, Value, When, Window
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.views.decorators.csrf import csrf_exempt, csrf_protect
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import compare, exports, finding_evidence, timeline, uploads
from audits.forms import FindingFilterForm, NewAuditForm
from audits.models import FRAMEWORK_CHOICES, SEVERITIES, AuditRun, Finding
from audits.runs import access, limits, retry, sources, start
from audits.runs import status as run_status
from audits.stream import opening, serve
from audits.views import review
from audits.views.organizations import org_detail

RUNS_PER_PAGE = 20
FINDINGS_PER_PAGE = 50
TREND_RUNS = 12
LIVE_FEED = 50
RETRYABLE = (AuditRun.Status.FAILED, AuditRun.Status.CANCELLED, AuditRun.Status.INTERRUPTED)


# --- dashboard ---------------------------------------------------------------------------------------------------


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    # Accepted and muted findings are left out, as the run page and the score leave them out.
    counts = {
        sev: Count("findings", filter=Q(findings__severity=sev, findings__suppressed=False)) for sev in SEVERITIES
    }
    runs = (
        access.own_runs(request.user)
        .defer("result", "checkpoint")
        .select_related("connection")
        .annotate(**counts)
        .order_by("-created", "-pk")
    )
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    return render(
        request,
        "audits/run_list.html",
        {"page": page, "runs": page.object_list, "trends": _trends(request.user), "severities": SEVERITIES},
    )


def _trends(user) -> list[dict]:
    """Risk score over the latest completed audits of each source and account, as SVG coordinates.

    One line per source (audits.runs.sources): the demo, an upload and a connection naming one account id are
    different inputs and never share a line."""
    rows = (
        access.own_runs(user)
        .filter(status=AuditRun.Status.COMPLETED, risk_score__isnull=False)
        .exclude(account_id="")
        .order_by("-created", "-pk")
        .values(
            "pk", "account_id", "risk_score", "created", "source", "source_key", "snapshot_name", "connection__name"
        )[:500]
    )
    by_source: dict[tuple[str, str], list[dict]] = defaultdict(list)
    for row in rows:
        line = by_source[(row["source_key"], row["account_id"])]
        if len(line) < TREND_RUNS:
            line.append(row)
    width, height, pad = 240, 64, 6
    trends = []
    for (source_key, account), points in sorted(by_source.items(), key=lambda item: (item[0][1], item[0][0])):
        newest = points[0]
        source = sources.label_of(newest["source"], source_key, newest["snapshot_name"], newest["connection__name"])
        points.reverse()
        step = (width - 2 * pad) / max(len(points) - 1, 1)
        dots = []
        for i, row in enumerate(points):
            x = pad + i * step if len(points) > 1 else width / 2
            y = pad + (100 - row["risk_score"]) / 100 * (height - 2 * pad)
            dots.append(
                {
                    "x": round(x, 1),
                    "y": round(y, 1),
                    "score": row["risk_score"],
                    "pk": row["pk"],
                    "created": row["created"],
                }
            )
        trends.append(
            {
                "account": account,
                "source": source,
                "source_key": source_key,
                "dots": dots,
                "points": " ".join(f"{d['x']},{d['y']}" for d in dots),
                "latest": dots[-1]["score"],
                "delta": dots[-1]["score"] - dots[0]["score"] if len(dots) > 1 else None,
                "width": width,
                "height": height,
            }
        )
    return trends


# --- new audit ---------------------------------------------------------------------------------------------------


@csrf_exempt  # checked by _new_run once the upload handler is in place (it must be set before POST is read)
@login_required
@require_http_methods(["GET", "POST"])
def new_run(request: HttpRequest) -> HttpResponse:
    if request.method == "POST":
        # At the limit, refuse before the upload is parsed, validated or packed (it may be tens of megabytes).
        try:
            limits.check(request.user)
        except start.TooManyActiveRunsError as exc:
            return _at_run_limit(request, str(exc))
    if uploads.read_limited(request):
        # Nothing is stored or changed, so this answer needs no CSRF check: it names the limit.
        form = NewAuditForm({"source": AuditRun.Source.SNAPSHOT}, {}, user=request.user,
                            refused_upload=uploads.too_large_message())  # fmt: skip
        form.is_valid()
        return render(request, "audits/new_run.html", {"form": form}, status=413)
    return _new_run(request)


def _at_run_limit(request: HttpRequest, message: str) -> HttpResponse:
    # Nothing is stored or changed, so, like the size refusal, this answer needs no CSRF check.
    form = NewAuditForm({"source": AuditRun.Source.DEMO}, {}, user=request.user)
    form.is_valid()
    form.add_error(None, message)
    return render(request, "audits/new_run.html", {"form": form}, status=400)


@csrf_protect
def _new_run(request: HttpRequest) -> HttpResponse:
    form = NewAuditForm(request.POST or None, request.FILES or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        try:
            run = start.start_from_form(request.user, form)
        except start.TooManyActiveRunsError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(run)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/new_run.html", {"form": form}, status=status)


# --- the run page ------------------------------------------------------------------------------------------------


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    if run.kind == AuditRun.Kind.ORGANIZATION:
        return org_detail(request, run)
    if request.htmx and request.htmx.target == "findings":
        return render(request, "audits/run_detail.html#findings", {"run": run, **_results_context(request, run)})
    tail = timeline.window(run)
    if run.status == AuditRun.Status.RUNNING and tail.rows and tail.rows[-1]["type"] == "paused":
        # The worker records its paused event just before the run's status: a page drawn between the two writes
        # shows the run as its newest event does, or it would read "Running" until someone resumed it.
        run.status = AuditRun.Status.PAUSED
    # Counters and side feed as of the last rendered row: the stream adds what comes after it, once.
    counts = timeline.severity_counts(run, through=tail.last_seq)
    # The side feed shows the newest findings only; a 100,000-event run must not load them all.
    latest = (
        Finding.objects.filter(run=run)
        .filter(Q(seq__lte=tail.last_seq) | Q(seq__isnull=True))
        .order_by("-seq", "-pk")
        .only("severity", "title", "principal_name", "principal_arn", "seq")[:LIVE_FEED]
    )
    context = {
        "run": run,
        "events": tail.rows,
        "earlier": tail.earlier,
        "last_seq": max(tail.last_seq, 0),
        "event_total": run.last_seq,
        "stats": list(counts.items()),
        "live_findings": list(latest),
        "framework_names": _framework_names(run),
        "retry_of": _retry_source(run),
        # Staff may review anyone's run, but only its owner pauses, resumes, cancels or retries it.
        "can_control": run.owner_id == request.user.pk,
        "can_retry": run.status in RETRYABLE,
        "announce_ms": settings.AEGIS_ANNOUNCE_MS,
    }
    if run.is_finished or _stored_result(run) is not None:
        context.update(_results_context(request, run))
    return render(request, "audits/run_detail.html", context)


@login_required
@require_GET
def run_timeline(request: HttpRequest, pk: int) -> HttpResponse:
    """An older window of the timeline ("load earlier"), the events up to a seek point in a replay, or the newest
    page of the events matching the filters and search, over the whole run."""
    run = access.get_visible_run(request, pk)
    filters = timeline.clean_filters(request.GET)
    raw_before, raw_upto = request.GET.get("before"), request.GET.get("upto")
    # A search starts from the newest event the viewer has (upto); paging and seeking give ?before.
    before, upto = _whole_number(raw_before), _whole_number(raw_upto)
    if before is None and (raw_before is not None or not timeline.is_filtering(filters)):
        return HttpResponse("Give ?before=<seq> as a whole number.\n", status=400, content_type="text/plain")
    if upto is None and raw_upto is not None:
        return HttpResponse("Give ?upto=<seq> as a whole number.\n", status=400, content_type="text/plain")
    older = timeline.window(run, before=before, filters=filters, upto=upto)
    response = render(
        request,
        "audits/_timeline.html#rows",
        {"run": run, "events": older.rows, "earlier": older.earlier, "filters": filters},
    )
    if older.total is not None:
        response["X-Aegis-Matches"] = str(older.total)
    if before is not None:
        # A replay seeking to `before` also needs the counters as they stood there.
        response["X-Aegis-Counts"] = json.dumps(timeline.severity_counts(run, through=before - 1))
    return response


@login_required
@require_GET
def run_head(request: HttpRequest, pk: int) -> HttpResponse:
    """The run's header facts, refreshed when the worker starts it (account id, start time) and when it ends."""
    run = access.get_visible_run(request, pk)
    return render(request, "audits/run_detail.html#meta", {"run": run, "framework_names": _framework_names(run)})


def _whole_number(raw: str | None) -> int | None:
    raw = (raw or "").strip()
    # isdigit() accepts "²"; only ASCII digits are a seq.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 10:
        return None
    return int(raw)


def _retry_source(run: AuditRun) -> AuditRun | None:
    if not run.retry_of_id:
        return None
    return AuditRun.objects.filter(pk=run.retry_of_id).only("pk", "status").first()


@login_required
@require_GET
def run_results(request: HttpRequest, pk: int) -> HttpResponse:
    """The results block, swapped into the run page when the `complete` event arrives."""
    run = access.get_visible_run(request, pk)
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


SEVERITY_RANK = Case(*[When(severity=sev, then=Value(i)) for i, sev in enumerate(SEVERITIES)], default=Value(9))
SORT_FIELDS = {
    "severity": "severity_rank",
    "title": "title",
    "principal": "principal_name",
    "category": "category",
    "check": "check_id",
}
GROUP_FIELDS = {"check": "check_id", "principal": "principal_arn"}


def _ordering(sort: str, group: str) -> list:
    field = SORT_FIELDS.get(sort.lstrip("-"), "severity_rank")
    descending = sort.startswith("-")
    order = [F(field).desc() if descending else F(field).asc()]
    if group in GROUP_FIELDS:
        # What to fix first: the group with the worst finding, then the one with the most findings.
        order[:0] = [F("group_worst").asc(), F("group_size").desc(), F(GROUP_FIELDS[group]).asc()]
    return [*order, F("severity_rank").asc(), F("seq").asc(nulls_last=True), F("pk").asc()]


def _with_group_figures(findings, group: str):
    """Each finding with its group's size and worst severity rank, for the order and the group headers."""
    if group not in GROUP_FIELDS:
        return findings
    partition = [F(GROUP_FIELDS[group])]
    return findings.annotate(
        group_worst=Window(Min("severity_rank"), partition_by=partition),
        group_size=Window(Count("pk"), partition_by=partition),
    )


def _results_context(request: HttpRequest, run: AuditRun) -> dict:
    result = _stored_result(run) or {}
    all_findings = Finding.objects.filter(run=run)
    categories = sorted(set(all_findings.values_list("category", flat=True)))
    frameworks = list(run.frameworks or []) or sorted(result.get("compliance", {}) or {})
    filters = FindingFilterForm(request.GET, categories=categories, frameworks=frameworks)
    chosen = filters.cleaned_data if filters.is_valid() else {}
    shown = all_findings.defer("evidence", "detail", "remediation", "fix")
    if chosen.get("severity"):
        shown = shown.filter(severity=chosen["severity"])
    if chosen.get("category"):
        shown = shown.filter(category=chosen["category"])
    if chosen.get("framework"):
        shown = shown.filter(controls__has_key=chosen["framework"])
    if chosen.get("q"):
        shown = shown.filter(Q(principal_name__icontains=chosen["q"]) | Q(principal_arn__icontains=chosen["q"]))
    control = _chosen_control(result, request.GET.get("control"))
    if control is not None:
        # A compliance row's link: exactly the findings that failed that control in this run.
        shown = shown.filter(fingerprint__in=control["findings"])
    sort, group = chosen.get("sort") or "severity", chosen.get("group") or ""
    ranked = _with_group_figures(shown.annotate(severity_rank=SEVERITY_RANK), group)
    ordered = ranked.order_by(*_ordering(sort, group))
    per_page = chosen.get("per") or FINDINGS_PER_PAGE
    page = Paginator(ordered, per_page).get_page(request.GET.get("page"))
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
        "compliance": _compliance_tables(run, result, frameworks),
        "control": control,
        "patterns": result.get("patterns") or [],
        "top_risks": result.get("top_risks") or [],
        "filters": filters,
        "filtered": control is not None or any(chosen.get(name) for name in ("severity", "category", "framework", "q")),
        "findings_page": page,
        "findings_group": group,
        "findings_sort": sort,
        "sort_columns": _sort_columns(query, sort),
        "findings_total": all_findings.count(),
        "filter_query": query.urlencode(),
        "severity_links": [(sev, _with_query(query, severity=sev)) for sev in SEVERITIES],
        "comparison": comparison,
        "exports": [(name, reverse("audits:export", args=[run.pk, name])) for name in exports.CONTENT_TYPES],
    }


SORT_LABELS = {"severity": "Severity", "title": "Finding", "principal": "Principal", "category": "Category"}


def _sort_columns(query, current: str) -> list[tuple[str, str, dict]]:
    """Each column header's link: sorts by that column, and a second click reverses it."""
    columns = []
    for column, label in SORT_LABELS.items():
        active = current.lstrip("-") == column
        descending = current.startswith("-")
        target = f"-{column}" if active and not descending else column
        state = ("descending" if descending else "ascending") if active else "none"
        columns.append((column, label, {"query": _with_query(query, sort=target), "aria": state}))
    return columns


def _with_query(query, **changes) -> str:
    copy = query.copy()
    for key, value in changes.items():
        copy[key] = value
    return "?" + copy.urlencode()


def _chosen_control(result: dict, value: str | None) -> dict | None:
    """The compliance control named by ?control=<framework>:<id>, with its failing findings; None otherwise."""
    parsed = review.parse_control(value)
    if parsed is None:
        return None
    framework, control_id = parsed
    table = (result.get("compliance") or {}).get(framework) or {}
    for control in table.get("controls") or []:
        if control.get("id") == control_id:
            return {**control, "framework": framework, "findings": list(control.get("findings") or [])}
    return None


def _compliance_tables(run: AuditRun, result: dict, frameworks: list[str]) -> list[dict]:
    names = dict(FRAMEWORK_CHOICES)
    compliance = result.get("compliance") or {}
    tables = []
    for key in frameworks or list(compliance):
        data = compliance.get(key) or {}
        controls = [
            {**c, "findings_url": review.control_findings_url(run, key, c["id"]) if c.get("findings") else ""}
            for c in data.get("controls") or []
        ]
        tables.append(
            {
                "key": key,
                "name": data.get("name") or names.get(key, key),
                "controls": controls,
                "passed": data.get("passed", 0),
                "failed": data.get("failed", 0),
                "not_evaluated": data.get("not_evaluated", 0),
            }
        )
    return tables


@login_required
@require_GET
def finding_detail(request: HttpRequest, pk: int, finding_pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    finding = get_object_or_404(Finding, pk=finding_pk, run=run)
    context = {"run": run, "finding": finding, "controls": _finding_controls(finding), **_evidence(finding.evidence)}
    template = "audits/finding_detail.html#finding" if request.htmx else "audits/finding_detail.html"
    return render(request, template, context)


EVIDENCE_SHOWN = {
    *("statements", "statement", "methods", "method", "how", "actions", "path", "escalation_path", "hops"),
    "conditions",
}


def _evidence(evidence) -> dict:
    """Split a finding's evidence into granting statements, escalation methods, a real path and the rest."""
    if not isinstance(evidence, dict):
        shown = [("evidence", _pretty(evidence), not _is_plain(evidence))] if evidence else []
        empty: dict = {"statements": [], "other_statements": [], "conditions": [], "methods": [], "hops": []}
        return {**empty, "other_evidence": shown}
    statements: list[dict] = []

    def add(items) -> None:
        for item in items or []:
            if isinstance(item, dict) and "statement" in item:
                statements.append(
                    {
                        "policy": item.get("policy") or "",
                        # The engine numbers statements from 1 ("index"); older findings say "#0" for the first.
                        "sid": item.get("sid")
                        or (
                            f"#{item['index'] - 1}" if isinstance(item.get("index"), int) and item["index"] > 0 else ""
                        ),
                        "json": _pretty(item["statement"]),
                        "statement": item["statement"],
                    }
                )
            else:
                statements.append({"policy": "", "sid": "", "json": _pretty(item)})

    add(evidence.get("statements"))
    if "statement" in evidence:
        add([{"statement": evidence["statement"]}])
    # "methods" are alternative ways to escalate, not the steps of one path.
    listed = evidence.get("methods") or ([evidence] if "method" in evidence else [])
    methods = []
    for method in listed:
        if isinstance(method, dict):
            methods.append(
                {
                    "method": str(method.get("method", "")),
                    "how": str(method.get("how", "")),
                    "actions": [str(a) for a in method.get("actions") or []],
                }
            )
            if method is not evidence:
                add(method.get("statements"))
    # Only what grants the finding's actions is its evidence: not, say, a read-only policy beside the one hop.
    granting, other = finding_evidence.split_statements(
        statements, finding_evidence.finding_actions(evidence), to_admin=finding_evidence.leads_to_admin(evidence)
    )
    listed_conditions = evidence.get("conditions")
    return {
        "statements": granting,
        "other_statements": other,
        "conditions": [str(finding_evidence.in_words(c)) for c in listed_conditions]
        if isinstance(listed_conditions, list)
        else [],
        "methods": methods,
        "hops": _hops(evidence),
        "other_evidence": [
            (key, _pretty(words), not _is_plain(words))
            for key, value in evidence.items()
            if key not in EVIDENCE_SHOWN
            for words in [finding_evidence.in_words(value)]
        ],
    }


def _hops(evidence: dict) -> list[str]:
    """A real escalation path as its hops: from the structured hops, else the path's "a -> b" text or list."""
    hops = evidence.get("hops")
    if isinstance(hops, list) and hops:
        return [
            f"{h.get('type', '')} {h.get('name') or h.get('arn', '')}".strip() if isinstance(h, dict) else str(h)
            for h in hops
        ]
    path = evidence.get("escalation_path") or evidence.get("path")
    if isinstance(path, str) and path:
        return [part.strip() for part in path.split("->") if part.strip()]
    if isinstance(path, list) and path and all(isinstance(step, dict) and "to" in step for step in path):
        # The engine's hops: {"from", "to", "method", "via", "conditions"}; shown as the principals in order.
        shown = [_principal_label(str(path[0].get("from", "")))]
        for step in path:
            only = "; ".join(str(c.get("text", "")) for c in step.get("conditions") or [] if isinstance(c, dict))
            how = str(step.get("method", "")) + (f", only when {only}" if only else "")
            shown.append(
                f"{_principal_label(str(step.get('to', '')))} ({how})"
                if how
                else _principal_label(str(step.get("to", "")))
            )
        return shown
    if isinstance(path, list):
        return [step if isinstance(step, str) else _pretty(step) for step in path]
    return []


def _principal_label(arn: str) -> str:
    """'arn:aws:iam::1:role/ops/Admin' -> 'role Admin'; anything else as it is."""
    resource = arn.split(":", 5)[-1]
    kind, _, rest = resource.partition("/")
    return f"{kind} {rest.rsplit('/', 1)[-1]}" if rest else arn


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
        return [
            (names.get(str(k), str(k)), ", ".join(map(str, v)) if isinstance(v, list) else str(v))
            for k, v in controls.items()
        ]
    return [("Controls", ", ".join(map(str, controls)))]


# --- compare, replay, exports ------------------------------------------------------------------------------------


@login_required
@require_GET
def run_compare(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    choices = compare.visible_runs(request.user, exclude=run)
    other_pk = _whole_number(request.GET.get("with"))
    other = None
    if other_pk is not None:
        other = next((c for c in choices if c.pk == other_pk), None)
        if other is None:
            raise Http404("No such audit to compare with.")
    comparison = compare.compare(run, other)
    return render(request, "audits/compare.html", {"run": run, "comparison": comparison, "choices": choices})


REPLAY_SPEEDS = [0.25, 0.5, 1, 4, 16, 100]


@login_required
@require_GET
def run_playback(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    raw = request.GET.get("speed")
    speed, speed_error = 1.0, ""
    try:
        speed = serve.parse_speed(raw or "1")
    except serve.StreamError:
        speed_error = (
            f"“{(raw or '')[:20]}” is not a replay speed: choose a number from {opening.MIN_SPEED:g} "
            f"to {opening.MAX_SPEED}."
        )
    context = {
        "run": run,
        "speed": f"{speed:g}",  # 0.5, 1, 16: as the speed buttons and the URL write it
        "speeds": [f"{s:g}" for s in REPLAY_SPEEDS],
        "speed_error": speed_error,
        "min_speed": f"{opening.MIN_SPEED:g}",
        "max_speed": opening.MAX_SPEED,
        "zero_stats": [(sev, 0) for sev in SEVERITIES],
    }
    return render(request, "audits/playback.html", context, status=400 if speed_error else 200)


@login_required
@require_GET
def run_export(request: HttpRequest, pk: int, name: str) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    if name not in exports.CONTENT_TYPES:
        raise Http404("No such export.")
    return exports.response_for(run, name)


# --- streams -----------------------------------------------------------------------------------------------------


async def _stream_view(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    # The ASGI entry point serves these paths with the lean stream app; this view serves the
    # same answers when Django is reached another way (runserver, the test client).
    return serve.response_for(await serve.answer(request, kind, pk, read=serve.in_request_thread))


async def run_events(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "events")


async def run_replay(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "replay")


# --- pause, resume, cancel ---------------------------------------------------------------------------------------


@login_required
@require_POST
def pause_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk)
    if not run_status.pause(run.pk):
        messages.error(request, "Only a running audit can be paused.")
    return redirect(run)


@login_required
@require_POST
def resume_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk)
    try:
        if not start.resume(run.pk):
            messages.error(request, "Only a paused or interrupted audit can be resumed.")
    except start.TooManyActiveRunsError as exc:
        messages.error(request, str(exc))
    return redirect(run)


@login_required
@require_http_methods(["GET", "POST"])
def cancel_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk)
    if request.method == "GET":
        # The confirmation step for browsers without script; with script the run page asks in a <dialog>.
        return render(request, "audits/cancel_confirm.html", {"run": run})
    # A run no worker is executing is cancelled here; a running one at its next checkpoint.
    if not run_status.cancel(run.pk):
        messages.error(request, "This audit has already finished.")
    return redirect(run)


@login_required
@require_POST
def retry_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk)
    if run.status not in RETRYABLE:
        messages.error(request, "Only a failed, cancelled or interrupted audit can be retried.")
        return redirect(run)
    try:
        new, created = retry.retry(run)
    except start.TooManyActiveRunsError as exc:
        messages.error(request, str(exc))
        return redirect(run)
    if created:
        messages.success(request, f"Retrying audit #{run.pk} as audit #{new.pk}.")
    else:
        messages.info(request, f"Audit #{run.pk} was already retried as audit #{new.pk}.")
    return redirect(new)
