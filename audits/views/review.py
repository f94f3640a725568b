"""Review in the portal: a queue of finished runs, a review page per run, accept-risk per finding.

Reviewers are staff or members of the `reviewer` group (audits.reviewers); anyone else gets a 404, as for a run
that does not exist. An accepted risk is a Suppression owned by the run's owner for the run's source and account, so
only that owner's later runs of the same source inherit it (the worker applies it when they finish): a risk
accepted on the demo does not carry over to an upload naming the same account id. The finding of this run is
marked suppressed at once. An organization run's own (cross-account) findings are kept under the account of the
principal each sits on, and the owner's later organization runs leave them out.
"""

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from functools import wraps
from typing import Self
from urllib.parse import urlencode

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Case, F, Q, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits.iam.scoring import band
from audits.models import SEVERITIES, AuditRun, Finding, Suppression
from audits.reviewers import is_reviewer
from audits.runs import organization, results, sources

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
        AuditRun.objects.defer("checkpoint").select_related("owner", "reviewer", "connection"),
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
        .select_related("owner", "reviewer", "connection")
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
    if request.method == "POST" and "accept_selected" in request.POST:
        return _accept_selected(request, run)
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
    chosen = FindingFilter.read(request.GET)
    run_findings = Finding.objects.filter(run=run)
    matching = chosen.apply(run_findings).annotate(severity_rank=SEVERITY_RANK)
    ordered = matching.defer("evidence", "detail", "fix", "remediation").order_by(
        "suppressed", "severity_rank", F("seq").asc(nulls_last=True), "pk"
    )
    page = Paginator(ordered, FINDINGS_PER_PAGE).get_page(request.GET.get("page"))
    # An organization run's findings sit on several accounts; their fingerprints name the principal's ARN.
    by_account = {"account_id": run.account_id} if not _is_organization(run) else {}
    accepted = {
        s.fingerprint: s
        for s in Suppression.objects.filter(
            sources.same_source_suppressions(run.source_key),
            owner=run.owner,
            expires_at__gt=timezone.now(),
            fingerprint__in=[f.fingerprint for f in page.object_list],
            **by_account,
        ).select_related("created_by")
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
            "filter": chosen,
            "severities": SEVERITIES,
            "checks": sorted(set(run_findings.values_list("check_id", flat=True))),
            "total": run_findings.count(),
            "open_matching": matching.filter(suppressed=False).count(),
            "query": chosen.query(),
        },
    )


SEVERITY_RANK = Case(*[When(severity=sev, then=Value(i)) for i, sev in enumerate(SEVERITIES)], default=Value(9))


@dataclass(frozen=True)
class FindingFilter:
    """The review page's filters, read leniently: an unknown severity or check is ignored, not an error."""

    severity: str = ""
    check: str = ""
    principal: str = ""

    @classmethod
    def read(cls, data) -> Self:
        severity = str(data.get("severity", "")).strip()
        return cls(
            severity=severity if severity in SEVERITIES else "",
            check=str(data.get("check", "")).strip()[:80],
            principal=str(data.get("principal", "")).strip()[:200],
        )

    def apply(self, findings):
        if self.severity:
            findings = findings.filter(severity=self.severity)
        if self.check:
            findings = findings.filter(check_id=self.check)
        if self.principal:
            findings = findings.filter(
                Q(principal_name__icontains=self.principal) | Q(principal_arn__icontains=self.principal)
            )
        return findings

    @property
    def active(self) -> bool:
        return bool(self.severity or self.check or self.principal)

    def query(self) -> str:
        return urlencode({k: v for k, v in vars(self).items() if v})


# Accepting every matching finding at once is bounded: the page says how many; a run never has more than this.
MAX_BULK = 10_000


def _accept_selected(request: HttpRequest, run: AuditRun) -> HttpResponse:
    """Accept many findings in one POST with one justification and expiry, all or none (one transaction)."""
    chosen = FindingFilter.read(request.POST)
    back = _back(run, request, chosen)
    justification = request.POST.get("justification", "").strip()
    expires_at, error = _expiry(request.POST.get("expires", ""))
    raw_ids = request.POST.getlist("finding")
    if request.POST.get("all_matching") == "1":
        findings = list(chosen.apply(Finding.objects.filter(run=run, suppressed=False)).order_by("pk")[: MAX_BULK + 1])
    elif not all(raw.isdigit() for raw in raw_ids):
        findings, error = [], "The selection was not understood: choose the findings again."
    else:
        ids = {int(raw) for raw in raw_ids}
        findings = list(Finding.objects.filter(run=run, pk__in=ids).order_by("pk"))
        if len(findings) != len(ids):
            findings, error = [], "Some of the chosen findings are not in this audit: nothing was accepted."
    if not error and not findings:
        error = "Choose at least one finding to accept (tick its box, or select all matching)."
    elif not error and len(findings) > MAX_BULK:
        error = f"Accept at most {MAX_BULK} findings at once: narrow the filters."
    if not error and not justification:
        error = "Say why the risks are accepted: the justification is required."
    elif not error and len(justification) > MAX_TEXT:
        error = f"Keep the justification under {MAX_TEXT} characters."
    accounts = {f.pk: _account_of(run, f) for f in findings}
    if not error and not all(accounts.values()):
        error = "This audit has no account id, so an accepted risk could not carry over to later audits."
    if error:
        messages.error(request, error)
        return redirect(back)
    with transaction.atomic():
        for finding in findings:
            _suppress(run, finding, accounts[finding.pk], justification, expires_at, request.user)
        _restate(run, [f.fingerprint for f in findings], suppressed=True)
    messages.success(
        request,
        f"{len(findings)} risk{'s' if len(findings) != 1 else ''} accepted until {expires_at:%Y-%m-%d}: suppressed in "
        f"this audit and in {run.owner}'s later " + ("organization " if _is_organization(run) else "") + "audits.",
    )
    return redirect(back)


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
        _suppress(run, finding, account_id, justification, expires_at, request.user)
        _restate(run, [finding.fingerprint], suppressed=True)
    messages.success(
        request,
        f"Risk accepted until {expires_at:%Y-%m-%d}: “{finding.title}” is suppressed in this "
        f"audit and in {run.owner}'s later "
        + ("organization " if _is_organization(run) else "")
        + f"audits of account {account_id} from the same source ({sources.label(run)}).",
    )
    return redirect(_back(run, request))


@reviewer_required
@require_POST
def unaccept_risk(request: HttpRequest, pk: int, finding_pk: int) -> HttpResponse:
    """Take an accepted risk back: the suppression ends now (its record stays), and the finding is open again in
    this audit and in the owner's later audits of the same source, their scores and counts with it."""
    run = _reviewable(pk)
    finding = get_object_or_404(Finding, pk=finding_pk, run=run)
    with transaction.atomic():
        ended = Suppression.objects.filter(
            sources.same_source_suppressions(run.source_key),
            owner=run.owner,
            account_id=_account_of(run, finding),
            fingerprint=finding.fingerprint,
            expires_at__gt=timezone.now(),
        ).update(expires_at=timezone.now())
        if finding.suppressed and not finding.muted_by:
            Finding.objects.filter(pk=finding.pk).update(suppressed=False)
            ended += 1
        _restate(run, [finding.fingerprint], suppressed=False)
    if ended:
        messages.success(request, f"Risk no longer accepted: “{finding.title}” counts again in this audit's score.")
    else:
        messages.error(request, "That risk was not accepted: nothing changed.")
    return redirect(_back(run, request))


def _restate(run: AuditRun, fingerprints: list[str], suppressed: bool) -> None:
    """Mark the findings in this run and the owner's later runs of the source, and store those runs' scores and
    counts again (audits.runs.results), so no page, export or API answer keeps the old ones. An organization run's
    own findings are its cross-account paths: they are marked in this run, and its roll-up (which counts them) is
    stored again."""
    if _is_organization(run):
        Finding.objects.filter(run=run, fingerprint__in=fingerprints, muted_by="").update(suppressed=suppressed)
        organization.restate(run.pk)
        return
    results.mark(results.later_runs_of_source(run, fingerprints), fingerprints, suppressed)


def _suppress(run: AuditRun, finding: Finding, account_id: str, justification: str, expires_at, user) -> None:
    """Accept one finding's risk (inside the caller's transaction): a new suppression, or the live one updated."""
    existing = (
        Suppression.objects.select_for_update()
        .filter(
            owner=run.owner,
            source_key=run.source_key,  # one per source: the demo's acceptance is not an upload's
            account_id=account_id,
            fingerprint=finding.fingerprint,
            expires_at__gt=timezone.now(),
        )
        .first()
    )
    fields = {
        "justification": justification,
        "expires_at": expires_at,
        "created_by": user,
        "run": run,
        "check_id": finding.check_id[:80],
        "title": finding.title[:300],
    }
    if existing is None:
        Suppression.objects.create(
            owner=run.owner,
            source_key=run.source_key,
            account_id=account_id,
            fingerprint=finding.fingerprint,
            **fields,
        )
    else:
        Suppression.objects.filter(pk=existing.pk).update(**fields)
    Finding.objects.filter(pk=finding.pk).update(suppressed=True)


def _is_organization(run: AuditRun) -> bool:
    return run.kind == AuditRun.Kind.ORGANIZATION


def _account_of(run: AuditRun, finding: Finding) -> str:
    """The account an accepted risk is kept under: the run's, or on an organization run the account of the
    principal the cross-account finding sits on."""
    if not _is_organization(run):
        return run.account_id
    from audits.iam.cross_account import finding_account

    return finding_account(finding.principal_arn, finding.evidence or {})


def _back(run: AuditRun, request: HttpRequest, chosen: FindingFilter | None = None) -> str:
    """The review page as the reviewer left it: the same filters and page."""
    query = {k: v for k, v in vars(chosen or FindingFilter.read(request.POST)).items() if v}
    page = request.POST.get("page", "")
    if page.isdigit():
        query["page"] = page
    url = reverse("audits:review_run", args=[run.pk])
    return f"{url}?{urlencode(query)}" if query else url
