"""Review in the portal: a queue of finished runs, a review page per run, accept-risk per finding.

Reviewers are staff or members of the `reviewer` group (audits.reviewers); anyone else gets a 404, as for a run
that does not exist. An accepted risk is a Suppression owned by the run's owner for the run's account, so only that
owner's later runs of the account inherit it (the runner applies it when they finish); the finding of this run is
marked suppressed at once. An organization run's own (cross-account) findings are kept under the account of the
principal each sits on, and the owner's later organization runs leave them out.
"""

from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits.iam.scoring import band
from audits.models import SEVERITIES, AuditRun, Finding, Suppression
from audits.reviewers import is_reviewer

RUNS_PER_PAGE = 25
FINDINGS_PER_PAGE = 50
MAX_ACCEPT_DAYS = 3 * 365
MAX_TEXT = 4000
# Score ranges of each risk band, derived from the engine's own band() so they cannot drift apart.
BANDS: dict[str, tuple[int, int]] = {}
for _score in range(0, 101):
    low, high = BANDS.get(band(_score), (_score, _score))
    BANDS[band(_score)] = (min(low, _score), max(high, _score))


def control_findings_url(run: AuditRun, framework: str, control_id: str) -> str:
    """The run page's findings filtered to one compliance control: `?control=<framework>:<id>#findings`."""
    query = urlencode({"control": f"{framework}:{control_id}"})
    return f"{reverse('audits:run', args=[run.pk])}?{query}#findings"


def parse_control(value: str | None) -> tuple[str, str] | None:
    """`pci_dss:7.2.1` -> ("pci_dss", "7.2.1"); None when malformed (the filter is then ignored)."""
    framework, sep, control_id = (value or "").partition(":")
    if not sep or not framework or not control_id or len(value or "") > 120:
        return None
    return framework, control_id


def in_control(finding: Finding, framework: str, control_id: str) -> bool:
    controls = finding.controls if isinstance(finding.controls, dict) else {}
    return control_id in (controls.get(framework) or [])


def reviewer_required(view):
    """Non-reviewers get the same 404 as a missing page: the review pages do not exist for them."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args, **kwargs):
        if not is_reviewer(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return login_required(wrapper)


def _reviewable(pk: int) -> AuditRun:
    return get_object_or_404(
        AuditRun.objects.defer("checkpoint").select_related("owner", "reviewer"),
        pk=pk,
        status=AuditRun.Status.COMPLETED,
    )


@reviewer_required
@require_GET
def review_queue(request: HttpRequest) -> HttpResponse:
    state = request.GET.get("state", AuditRun.Review.UNREVIEWED)
    risk = request.GET.get("band", "")
    account = request.GET.get("account", "").strip()[:12]
    runs = (
        AuditRun.objects.filter(status=AuditRun.Status.COMPLETED, parent__isnull=True)
        .defer("result", "checkpoint")
        .select_related("owner", "reviewer")
        .order_by("-finished", "-pk")
    )
    if state in AuditRun.Review.values:
        runs = runs.filter(review_state=state)
    else:
        state = ""
    if risk in BANDS:
        low, high = BANDS[risk]
        runs = runs.filter(risk_score__gte=low, risk_score__lte=high)
    else:
        risk = ""
    if account:
        runs = runs.filter(account_id=account)
    page = Paginator(runs, RUNS_PER_PAGE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    return render(
        request,
        "audits/review_queue.html",
        {
            "page": page,
            "runs": page.object_list,
            "states": AuditRun.Review.choices,
            "bands": list(BANDS),
            "state": state,
            "band": risk,
            "account": account,
            "query": query.urlencode(),
        },
    )


@reviewer_required
@require_http_methods(["GET", "POST"])
def review_run(request: HttpRequest, pk: int) -> HttpResponse:
    run = _reviewable(pk)
    if request.method == "POST":
        state = request.POST.get("review_state", "")
        notes = request.POST.get("review_notes", "").strip()
        if state not in AuditRun.Review.values:
            messages.error(request, "Choose a review state: unreviewed, approved or needs follow-up.")
        elif len(notes) > MAX_TEXT:
            messages.error(request, f"Keep the notes under {MAX_TEXT} characters.")
        else:
            AuditRun.objects.filter(pk=run.pk).update(
                review_state=state, review_notes=notes, reviewer=request.user, reviewed_at=timezone.now()
            )
            messages.success(request, f"Audit #{run.pk} marked {AuditRun.Review(state).label.lower()}.")
        return redirect("audits:review_run", pk=run.pk)
    order = {sev: i for i, sev in enumerate(SEVERITIES)}
    findings = sorted(
        Finding.objects.filter(run=run).defer("evidence", "detail", "fix"),
        key=lambda f: (f.suppressed, order.get(f.severity, 9), f.seq or 0),
    )
    page = Paginator(findings, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
    # An organization run's findings sit on several accounts; their fingerprints name the principal's ARN.
    by_account = {"account_id": run.account_id} if not _is_organization(run) else {}
    accepted = {
        s.fingerprint: s
        for s in Suppression.objects.filter(
            owner=run.owner,
            expires_at__gt=timezone.now(),
            fingerprint__in=[f.fingerprint for f in page.object_list],
            **by_account,
        )
    }
    today = timezone.now().date()
    return render(
        request,
        "audits/review_run.html",
        {
            "run": run,
            "page": page,
            "findings": [(f, accepted.get(f.fingerprint)) for f in page.object_list],
            "states": AuditRun.Review.choices,
            "band": band(run.risk_score) if run.risk_score is not None else "",
            "min_date": (today + timedelta(days=1)).isoformat(),
            "max_date": (today + timedelta(days=MAX_ACCEPT_DAYS)).isoformat(),
            "default_date": (today + timedelta(days=90)).isoformat(),
        },
    )


def _expiry(value: str) -> tuple[datetime | None, str]:
    """The end (UTC) of the chosen day, which must be after today and within MAX_ACCEPT_DAYS."""
    try:
        day = date.fromisoformat(value.strip())
    except ValueError:
        return None, "Give the expiry as a date (YYYY-MM-DD)."
    today = timezone.now().astimezone(UTC).date()
    if day <= today:
        return None, f"The expiry {day.isoformat()} is not in the future: choose a date after {today.isoformat()}."
    if day > today + timedelta(days=MAX_ACCEPT_DAYS):
        return None, "Accept a risk for three years at most; review it again then."
    return datetime.combine(day, time.max, tzinfo=UTC), ""


@reviewer_required
@require_POST
def accept_risk(request: HttpRequest, pk: int, finding_pk: int) -> HttpResponse:
    run = _reviewable(pk)
    finding = get_object_or_404(Finding, pk=finding_pk, run=run)
    justification = request.POST.get("justification", "").strip()
    expires_at, error = _expiry(request.POST.get("expires", ""))
    if not justification:
        error = "Say why the risk is accepted: the justification is required."
    elif len(justification) > MAX_TEXT:
        error = f"Keep the justification under {MAX_TEXT} characters."
    account_id = _account_of(run, finding)
    if not error and not account_id:
        error = "This audit has no account id, so an accepted risk could not carry over to later audits."
    if error:
        messages.error(request, error)
        return redirect(_back(run, request))
    with transaction.atomic():
        existing = (
            Suppression.objects.select_for_update()
            .filter(
                owner=run.owner,
                account_id=account_id,
                fingerprint=finding.fingerprint,
                expires_at__gt=timezone.now(),
            )
            .first()
        )
        fields = {
            "justification": justification,
            "expires_at": expires_at,
            "created_by": request.user,
            "run": run,
            "check_id": finding.check_id[:80],
            "title": finding.title[:300],
        }
        if existing is None:
            Suppression.objects.create(
                owner=run.owner, account_id=account_id, fingerprint=finding.fingerprint, **fields
            )
        else:
            Suppression.objects.filter(pk=existing.pk).update(**fields)
        Finding.objects.filter(pk=finding.pk).update(suppressed=True)
    messages.success(
        request,
        f"Risk accepted until {expires_at:%Y-%m-%d}: “{finding.title}” is suppressed in this "
        f"audit and in {run.owner}'s later "
        + ("organization " if _is_organization(run) else "")
        + f"audits of account {account_id}.",
    )
    return redirect(_back(run, request))


def _is_organization(run: AuditRun) -> bool:
    return run.kind == AuditRun.Kind.ORGANIZATION


def _account_of(run: AuditRun, finding: Finding) -> str:
    """The account an accepted risk is kept under: the run's, or on an organization run the account of the
    principal the cross-account finding sits on."""
    if not _is_organization(run):
        return run.account_id
    from audits.iam.cross_account import finding_account

    return finding_account(finding.principal_arn, finding.evidence or {})


def _back(run: AuditRun, request: HttpRequest) -> str:
    page = request.POST.get("page", "")
    url = reverse("audits:review_run", args=[run.pk])
    return f"{url}?page={page}" if page.isdigit() else url
