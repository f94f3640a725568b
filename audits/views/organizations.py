"""Organization audits in the portal: start one, follow it, and pause, resume or cancel it as a whole."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.views.decorators.http import require_http_methods, require_POST

from audits.models import FRAMEWORK_CHOICES, AuditRun, AwsConnection
from audits.runs import access, organization, start
from audits.views.schedules import ScheduleForm, schedule_of_org_run

SEVERITY_COLUMNS = ("critical", "high", "medium", "low")
CROSS_ACCOUNT_SHOWN = 200


class OrganizationAuditForm(forms.Form):
    connection = forms.ModelChoiceField(
        queryset=AwsConnection.objects.none(),
        label="Management account connection",
        empty_label="Choose…",
        help_text="A verified connection to the management account or a delegated administrator of AWS Organizations.",
    )
    member_role_name = forms.CharField(
        max_length=64,
        initial="AegisAudit",
        label="Role name in each member account",
        help_text="Deploy it in every account (for example with a CloudFormation StackSet), trusting the "
        "connection's role.",
    )
    external_id = forms.CharField(
        max_length=1224,
        required=False,
        label="ExternalId for the member roles",
        help_text="Leave empty when the member roles do not require one.",
    )
    frameworks = forms.MultipleChoiceField(
        choices=FRAMEWORK_CHOICES,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        initial=[key for key, _ in FRAMEWORK_CHOICES],
    )

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fields["connection"].queryset = AwsConnection.objects.filter(owner=user, verified_at__isnull=False)

    def clean_member_role_name(self) -> str:
        name = self.cleaned_data["member_role_name"].strip()
        if not organization.valid_role_name(name):
            raise forms.ValidationError("Enter an IAM role name (letters, digits and +=,.@_- , up to 64 characters).")
        return name


@login_required
@require_http_methods(["GET", "POST"])
def new_org_run(request: HttpRequest) -> HttpResponse:
    form = OrganizationAuditForm(request.POST or None, user=request.user)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            run = start.start_run(
                request.user,
                source=AuditRun.Source.CONNECTION,
                frameworks=data["frameworks"],
                connection=data["connection"],
                kind=AuditRun.Kind.ORGANIZATION,
                target={"member_role_name": data["member_role_name"], "external_id": data["external_id"]},
            )
        except start.TooManyActiveRunsError as exc:
            form.add_error(None, str(exc))
        else:
            return redirect(run)
    status = 400 if request.method == "POST" else 200
    return render(request, "audits/new_org_run.html", {"form": form}, status=status)


def org_detail(request: HttpRequest, run: AuditRun) -> HttpResponse:
    """The run page of an organization run: one row per account, followed live on the parent's stream."""
    counts = {
        s: Count("findings", filter=Q(findings__severity=s, findings__suppressed=False)) for s in SEVERITY_COLUMNS
    }
    labels = dict(AuditRun.Status.choices)
    run_url = reverse("audits:run", args=[0])
    rows = (
        AuditRun.objects.filter(parent=run)
        .order_by("account_id")
        .values("pk", "status", "account_id", "risk_score", "error", "target")
        .annotate(**counts)
    )
    # Plain rows, URLs by string formatting: a 500-account page renders without 500 reverse() calls or models.
    children = [
        {
            "pk": row["pk"],
            "url": run_url.replace("/0/", f"/{row['pk']}/"),
            "account_id": row["account_id"],
            "name": (row["target"] or {}).get("account_name", ""),
            "status": row["status"],
            "status_label": labels.get(row["status"], row["status"]),
            "risk": "—" if row["risk_score"] is None else row["risk_score"],
            "counts": [(sev, row[sev]) for sev in SEVERITY_COLUMNS],
            "error": row["error"][:120],
        }
        for row in rows
    ]
    last_seq = run.events.order_by("-seq").values_list("seq", flat=True).first() or 0
    schedule = schedule_of_org_run(run) if run.owner_id == request.user.pk else None
    context = {
        "run": run,
        "children": children,
        "org": organization.org_counts(run.pk),
        "last_seq": last_seq,
        "severities": SEVERITY_COLUMNS,
        "can_control": run.owner_id == request.user.pk,
        "events": list(run.events.order_by("-seq").values("seq", "type", "message", "created")[:50])[::-1],
        # Paths across accounts are the organization run's own findings (audits.iam.cross_account).
        "cross_account": list(
            run.findings.filter(suppressed=False)
            .order_by("seq")
            .values("severity", "title", "principal_arn", "detail")[:CROSS_ACCOUNT_SHOWN]
        ),
        "cross_account_total": run.findings.filter(suppressed=False).count(),
        "schedule": schedule,
        "schedule_form": ScheduleForm.for_schedule(schedule),
    }
    return render(request, "audits/org_detail.html", context)


@login_required
@require_POST
def org_pause(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk, kind=AuditRun.Kind.ORGANIZATION)
    if run.is_finished:
        messages.error(request, "This organization audit has already finished.")
    else:
        organization.pause(run)
    return redirect(run)


@login_required
@require_POST
def org_resume(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk, kind=AuditRun.Kind.ORGANIZATION)
    if run.status != AuditRun.Status.PAUSED:
        messages.error(request, "Only a paused organization audit can be resumed.")
    else:
        start.resume_organization(run)
    return redirect(run)


@login_required
@require_POST
def org_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_own_run(request, pk, kind=AuditRun.Kind.ORGANIZATION)
    if run.is_finished:
        messages.error(request, "This organization audit has already finished.")
    else:
        organization.cancel(run)
    return redirect(run)
