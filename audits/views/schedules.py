"""Set or turn off the scheduled audit of a connection's account, or of the organization an organization run audited."""

from django import forms
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_POST

from audits import schedules
from audits.models import FRAMEWORK_KEYS, AuditRun, AwsConnection, Schedule
from audits.runs import access

OFF = "off"


class ScheduleForm(forms.Form):
    frequency = forms.ChoiceField(
        choices=[(OFF, "Off"), *Schedule.Frequency.choices], initial=Schedule.Frequency.DAILY, label="Run"
    )
    weekday = forms.TypedChoiceField(
        choices=Schedule.WEEKDAYS, coerce=int, required=False, initial=0, label="On (weekly)"
    )
    at = forms.TimeField(label="At (UTC)", initial="03:00", widget=forms.TimeInput(attrs={"type": "time"}))

    def clean(self) -> dict:
        cleaned = super().clean()
        if cleaned.get("frequency") == Schedule.Frequency.WEEKLY and cleaned.get("weekday") in (None, ""):
            self.add_error("weekday", "Choose the day of the week for a weekly audit.")
        return cleaned

    @classmethod
    def for_schedule(cls, schedule: Schedule | None) -> "ScheduleForm":
        if schedule is None or not schedule.enabled:
            return cls()
        return cls(initial={"frequency": schedule.frequency, "weekday": schedule.weekday or 0, "at": schedule.at})


def _apply(request: HttpRequest, schedule: Schedule, what: str) -> None:
    """Save the posted schedule (or turn it off) and say so; a bad form changes nothing."""
    form = ScheduleForm(request.POST)
    if not form.is_valid():
        errors = "; ".join(str(e) for errs in form.errors.values() for e in errs)
        messages.error(request, f"The schedule was not changed: {errors}")
        return
    data = form.cleaned_data
    if data["frequency"] == OFF:
        if schedule.pk:
            schedules.disable(schedule)
        messages.success(request, f"Scheduled audits of {what} are off.")
        return
    schedule.frequency, schedule.at, schedule.weekday = data["frequency"], data["at"], data.get("weekday")
    schedule.enabled, schedule.last_error = True, ""
    schedules.save_schedule(schedule)
    next_due = f"{schedule.next_due:%Y-%m-%d %H:%M} UTC"
    messages.success(request, f"{what[0].upper()}{what[1:]} will be audited {schedule.describe()}; next {next_due}.")


@login_required
@require_POST
def connection_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    connection = get_object_or_404(AwsConnection, pk=pk, owner=request.user)
    schedule = Schedule.objects.filter(connection=connection, kind=AuditRun.Kind.ACCOUNT).first() or Schedule(
        owner=request.user, source=AuditRun.Source.CONNECTION, connection=connection, frameworks=FRAMEWORK_KEYS
    )
    _apply(request, schedule, f"the account of “{connection.name}”")
    return redirect("audits:connection", pk=connection.pk)


@login_required
@require_POST
def org_schedule(request: HttpRequest, pk: int) -> HttpResponse:
    """The organization run's connection, member role and frameworks, audited again on a schedule."""
    run = access.get_own_run(request, pk, kind=AuditRun.Kind.ORGANIZATION, connection__isnull=False)
    schedule = Schedule.objects.filter(
        connection_id=run.connection_id, kind=AuditRun.Kind.ORGANIZATION
    ).first() or Schedule(owner=request.user, source=AuditRun.Source.CONNECTION, connection_id=run.connection_id)
    schedule.kind = AuditRun.Kind.ORGANIZATION
    schedule.target = {key: (run.target or {}).get(key, "") for key in ("member_role_name", "external_id")}
    schedule.frameworks = list(run.frameworks or [])
    _apply(request, schedule, "the organization")
    return redirect(run)


def schedule_of_connection(connection: AwsConnection) -> Schedule | None:
    return Schedule.objects.filter(connection=connection, kind=AuditRun.Kind.ACCOUNT).select_related("last_run").first()


def schedule_of_org_run(run: AuditRun) -> Schedule | None:
    if run.connection_id is None:
        return None
    return Schedule.objects.filter(connection_id=run.connection_id, kind=AuditRun.Kind.ORGANIZATION).first()
