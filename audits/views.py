from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import HttpRequest, HttpResponse, StreamingHttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import runner, streaming
from audits.forms import NewAuditForm
from audits.hub import run_db
from audits.models import AuditRun


def _get_run(request: HttpRequest, pk: int) -> AuditRun:
    """The run if the user may see it; strangers get a 404 whether or not it exists."""
    if request.user.is_staff:
        return get_object_or_404(AuditRun, pk=pk)
    return get_object_or_404(AuditRun, pk=pk, owner=request.user)


@login_required
@require_GET
def run_list(request: HttpRequest) -> HttpResponse:
    runs = AuditRun.objects.filter(owner=request.user).defer("snapshot", "result")[:50]
    return render(request, "audits/run_list.html", {"runs": runs, "form": NewAuditForm()})


@login_required
@require_http_methods(["GET", "POST"])
def new_run(request: HttpRequest) -> HttpResponse:
    form = NewAuditForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            run = AuditRun.objects.create(
                owner=request.user,
                source=form.cleaned_data["source"],
                frameworks=form.cleaned_data["frameworks"],
            )
            runner.enqueue(run)
        return redirect(run)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/new_run.html", {"form": form}, status=status)


@login_required
@require_GET
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    events = list(run.events.all())
    return render(
        request,
        "audits/run_detail.html",
        {"run": run, "events": events, "last_seq": events[-1].seq if events else 0},
    )


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
        if kind == "events":
            opening = await run_db(streaming.open_stream, user, pk, after)
            if opening.finished and not opening.backlog:
                return HttpResponse(status=204)
            return _sse_response(streaming.live_frames(opening))
        speed = streaming.parse_speed(request.GET.get("speed"))
        replay = await run_db(streaming.open_replay, user, pk, after)
        return _sse_response(streaming.replay_frames(replay, speed))
    except streaming.StreamError as exc:
        return HttpResponse(exc.message + "\n", status=exc.status, content_type="text/plain; charset=utf-8")


async def run_events(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "events")


async def run_replay(request: HttpRequest, pk: int) -> HttpResponse:
    return await _stream_view(request, pk, "replay")


@login_required
@require_POST
def pause_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
    updated = AuditRun.objects.filter(pk=run.pk, status=AuditRun.Status.RUNNING).update(control="pause")
    if not updated:
        messages.error(request, "Only a running audit can be paused.")
    return redirect(run)


@login_required
@require_POST
def resume_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _get_run(request, pk)
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
    run = _get_run(request, pk)
    with transaction.atomic():
        # A run no worker is executing is cancelled here; a running one at its next checkpoint.
        idle = [AuditRun.Status.QUEUED, AuditRun.Status.PAUSED, AuditRun.Status.INTERRUPTED]
        if AuditRun.objects.filter(pk=run.pk, status__in=idle).update(control="cancel"):
            runner.cancel_idle(run.pk)
        elif not AuditRun.objects.filter(pk=run.pk, status=AuditRun.Status.RUNNING).update(control="cancel"):
            messages.error(request, "This audit has already finished.")
    return redirect(run)
