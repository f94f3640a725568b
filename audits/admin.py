"""Admin review of past audits: filters, read-only history, review state, suppressions."""

from urllib.parse import urlencode

from django import forms
from django.contrib import admin, messages
from django.db import connection
from django.db.models import F
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from audits.models import (
    FRAMEWORK_CHOICES,
    ApiToken,
    AuditEvent,
    AuditRun,
    AwsConnection,
    Finding,
    MuteRule,
    RunInput,
    Suppression,
)


class EvidenceAdmin(admin.ModelAdmin):
    """Runs, their events and findings are evidence: nobody adds or deletes them here.

    Retention is `manage.py purge_runs --older-than DAYS`. Without the delete permission the admin also drops
    its "Delete selected" action."""

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False


class RunFilter(admin.SimpleListFilter):
    """?run=<id> from a run's change page; offers only the chosen run, never a list of every run."""

    title = "audit"
    parameter_name = "run"

    def lookups(self, request, model_admin):
        value = self.value()
        return [(value, f"Audit #{value}")] if value and value.isdigit() else []

    def queryset(self, request, queryset):
        value = self.value()
        if value is None:
            return queryset
        return queryset.filter(run_id=int(value)) if value.isdigit() else queryset.none()


class RunLogAdmin(EvidenceAdmin):
    """A run's events or findings, read-only, in pages; the run is shown by id, never loaded per row."""

    list_filter: tuple = (RunFilter,)
    list_select_related = False
    list_per_page = 100
    # No COUNT(*) over the whole table on every page: only the filtered count is shown.
    show_full_result_count = False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    @admin.display(description="Audit", ordering="run_id")
    def run_link(self, row) -> str:
        return format_html('<a href="{}">#{}</a>', reverse("admin:audits_auditrun_change", args=[row.run_id]),
                           row.run_id)  # fmt: skip


def _accept_risk_link(finding: Finding) -> str:
    # run_account_id is annotated by FindingAdmin.get_queryset: no query per finding.
    query = urlencode(
        {
            "run": finding.run_id,
            "account_id": finding.run_account_id,
            "fingerprint": finding.fingerprint,
            "check_id": finding.check_id,
            "title": finding.title[:300],
        }
    )
    return format_html('<a href="{}?{}">Suppress…</a>', reverse("admin:audits_suppression_add"), query)


def _changelist_link(model: str, run: AuditRun, count: int, noun: str) -> str:
    url = reverse(f"admin:audits_{model}_changelist") + "?" + urlencode({"run": run.pk})
    return format_html('<a href="{}">{} {}</a>', url, count, noun)


class RiskBandFilter(admin.SimpleListFilter):
    title = "risk band"
    parameter_name = "risk"
    # The engine's bands (audits.iam.scoring.band), as half-open score ranges.
    BANDS = {"critical": (75, 101), "high": (50, 75), "medium": (20, 50), "low": (0, 20)}

    def lookups(self, request, model_admin):
        return [(band, f"{band.title()} ({low}-{min(high, 100) - (0 if high > 100 else 1)})")
                for band, (low, high) in self.BANDS.items()]  # fmt: skip

    def queryset(self, request, queryset):
        if self.value() in self.BANDS:
            low, high = self.BANDS[self.value()]
            return queryset.filter(risk_score__gte=low, risk_score__lt=high)
        return queryset


class FrameworkFilter(admin.SimpleListFilter):
    title = "framework"
    parameter_name = "framework"

    def lookups(self, request, model_admin):
        return FRAMEWORK_CHOICES

    def queryset(self, request, queryset):
        key = self.value()
        if key not in dict(FRAMEWORK_CHOICES):
            return queryset
        if connection.features.supports_json_field_contains:
            return queryset.filter(frameworks__contains=[key])
        # SQLite has no JSON containment: match the quoted key in the stored list.
        return queryset.filter(frameworks__icontains=f'"{key}"')


@admin.register(AuditRun)
class AuditRunAdmin(EvidenceAdmin):
    list_display = (
        "id", "owner", "source", "account_id", "status", "risk_score", "frameworks", "review_state", "created",
        "replay_link",
    )  # fmt: skip
    list_filter = ("status", "owner", RiskBandFilter, FrameworkFilter, "review_state", "created")
    search_fields = ("account_id", "findings__principal_arn", "owner__username")
    date_hierarchy = "created"
    list_select_related = ("owner",)
    readonly_fields = (
        "owner", "source", "connection", "frameworks", "status", "progress", "risk_score", "account_id",
        "snapshot_name", "input_size", "created", "started", "finished", "heartbeat", "last_seq", "checkpoint",
        "error", "result_summary", "reviewer", "reviewed_at", "replay_link", "findings_link", "events_link",
    )  # fmt: skip
    fieldsets = (
        ("Run", {"fields": ("owner", "source", "connection", "account_id", "frameworks", "status", "progress",
                            "risk_score", "created", "started", "finished", "error", "replay_link",
                            "findings_link", "events_link")}),
        ("Review", {"fields": ("review_state", "review_notes", "reviewer", "reviewed_at")}),
        ("Internals", {"classes": ("collapse",), "fields": ("snapshot_name", "input_size", "last_seq", "checkpoint",
                                                             "heartbeat", "result_summary")}),
    )  # fmt: skip
    # Events and findings are linked to their paged, filtered lists, not inlined (1,000-row inlines made this
    # page 110,000 px tall and loaded every row).
    actions = ["mark_approved", "mark_follow_up", "mark_unreviewed"]

    def get_queryset(self, request):
        # The result (every finding of a large account) is only summarised on the change page.
        return super().get_queryset(request).defer("result", "checkpoint")

    def get_object(self, request, object_id, from_field=None):
        # The change page summarises the result, so it loads it, for this one run only.
        run = super().get_object(request, object_id, from_field)
        if run is not None:
            run.refresh_from_db(fields=["result", "checkpoint"])
        return run

    @admin.display(description="Findings")
    def findings_link(self, run: AuditRun) -> str:
        return _changelist_link("finding", run, run.findings.count(), "findings")

    @admin.display(description="Events")
    def events_link(self, run: AuditRun) -> str:
        return _changelist_link("auditevent", run, run.last_seq, "events")

    @admin.display(description="Input snapshot")
    def input_size(self, run: AuditRun) -> str:
        size = RunInput.objects.filter(run_id=run.pk).values_list("size_bytes", flat=True).first()
        return "—" if size is None else f"{size / 1024 / 1024:.1f} MB"

    @admin.display(description="Result")
    def result_summary(self, run: AuditRun) -> str:
        result = run.result or {}
        shown = {key: value for key, value in result.items() if not isinstance(value, list | dict)}
        return ", ".join(f"{key}: {value}" for key, value in shown.items()) or "—"

    @admin.display(description="Replay")
    def replay_link(self, run: AuditRun) -> str:
        if not run.is_finished:
            return "—"
        return format_html('<a href="{}">Replay</a>', reverse("audits:playback", args=[run.pk]))

    def save_model(self, request, obj: AuditRun, form, change) -> None:
        if "review_state" in form.changed_data or "review_notes" in form.changed_data:
            obj.reviewer = request.user
            obj.reviewed_at = timezone.now()
        super().save_model(request, obj, form, change)

    def _review(self, request, queryset, state: str) -> None:
        count = queryset.update(review_state=state, reviewer=request.user, reviewed_at=timezone.now())
        label = AuditRun.Review(state).label
        self.message_user(request, f"{count} audit(s) marked “{label}”.", messages.SUCCESS)

    @admin.action(description="Mark selected audits approved")
    def mark_approved(self, request, queryset) -> None:
        self._review(request, queryset, AuditRun.Review.APPROVED)

    @admin.action(description="Mark selected audits as needing follow-up")
    def mark_follow_up(self, request, queryset) -> None:
        self._review(request, queryset, AuditRun.Review.FOLLOW_UP)

    @admin.action(description="Mark selected audits unreviewed")
    def mark_unreviewed(self, request, queryset) -> None:
        self._review(request, queryset, AuditRun.Review.UNREVIEWED)


@admin.register(AuditEvent)
class AuditEventAdmin(RunLogAdmin):
    list_display = ("run_link", "seq", "type", "severity", "progress", "message", "created")
    list_filter = (RunFilter, "type", "severity")
    search_fields = ("message", "principal_arn")
    ordering = ("-run_id", "seq")


@admin.register(Finding)
class FindingAdmin(RunLogAdmin):
    list_display = ("run_link", "severity", "category", "check_id", "principal_name", "title", "suppressed", "accept")
    list_filter = (RunFilter, "severity", "category", "suppressed")
    search_fields = ("principal_arn", "title", "check_id")

    def get_queryset(self, request):
        return super().get_queryset(request).annotate(run_account_id=F("run__account_id"))

    @admin.display(description="Accept risk")
    def accept(self, finding: Finding) -> str:
        return _accept_risk_link(finding)


@admin.register(Suppression)
class SuppressionAdmin(admin.ModelAdmin):
    list_display = ("account_id", "title", "check_id", "expires_at", "active", "created_by", "created")
    list_filter = ("expires_at",)
    search_fields = ("account_id", "fingerprint", "check_id", "title")
    readonly_fields = ("created_by", "created")
    # Ids, not drop-downs of every run and user; the owner is taken from the run when one is given.
    raw_id_fields = ("run", "owner")

    @admin.display(boolean=True, description="Active")
    def active(self, suppression: Suppression) -> bool:
        return suppression.is_active

    def save_model(self, request, obj: Suppression, form, change) -> None:
        if not change:
            obj.created_by = request.user
        if obj.run_id is not None:
            # Accepted on a run: it belongs to that run's owner, source and account, whatever the form said.
            run = AuditRun.objects.only("owner_id", "account_id", "source_key").get(pk=obj.run_id)
            obj.owner_id, obj.account_id, obj.source_key = run.owner_id, run.account_id, run.source_key
        super().save_model(request, obj, form, change)


class MuteRuleActiveFilter(admin.SimpleListFilter):
    title = "state"
    parameter_name = "state"

    def lookups(self, request, model_admin):
        return [("active", "Active"), ("expired", "Expired")]

    def queryset(self, request, queryset):
        if self.value() == "active":
            return queryset.filter(expires__gt=timezone.now())
        if self.value() == "expired":
            return queryset.filter(expires__lte=timezone.now())
        return queryset


class MuteRuleForm(forms.ModelForm):
    """Checks a rule as the mutelist page does (audits.mutelist.Draft), so the admin cannot save one that the page
    and the YAML import would refuse; an expiry already passed is kept when it was not changed."""

    class Meta:
        model = MuteRule
        fields = ("owner", "check_id", "arn_pattern", "account_id", "tags", "exceptions", "reason", "expires")

    def clean(self):
        from audits import mutelist

        data = super().clean()
        tags, exceptions = data.get("tags") or [], data.get("exceptions") or {}
        if not isinstance(tags, list) or not all(isinstance(t, str) for t in tags):
            raise forms.ValidationError('Tags must be a JSON list of "key=value" strings.')
        if not isinstance(exceptions, dict) or not all(
            isinstance(v, list) and all(isinstance(e, str) for e in v) for v in exceptions.values()
        ):
            raise forms.ValidationError('Exceptions must be a JSON object such as {"accounts": ["123456789012"]}.')
        draft = mutelist.Draft(
            check_id=data.get("check_id") or "", arn_pattern=data.get("arn_pattern") or "",
            account_id=data.get("account_id") or "", tags=tags, reason=data.get("reason") or "",
            expires=data.get("expires"), exceptions=exceptions,
        ).check(allow_expired="expires" not in self.changed_data)  # fmt: skip
        if draft.errors:
            raise forms.ValidationError([error[:1].upper() + error[1:] for error in dict.fromkeys(draft.errors)])
        data.update(check_id=draft.check_id, arn_pattern=draft.arn_pattern, account_id=draft.account_id,
                    tags=draft.tags, exceptions=draft.exceptions, reason=draft.reason)  # fmt: skip
        return data


@admin.register(MuteRule)
class MuteRuleAdmin(admin.ModelAdmin):
    """Reviewers' mute rules (audits.mutelist), every owner's, for staff with the model's permissions; the
    mutelist page is where reviewers keep them day to day."""

    form = MuteRuleForm
    list_display = ("id", "owner", "check_id", "arn_pattern", "account_id", "tags", "exceptions", "short_reason",
                    "expires", "active", "created_by")  # fmt: skip
    list_filter = (MuteRuleActiveFilter, "owner", "expires")
    search_fields = ("check_id", "arn_pattern", "account_id", "reason", "owner__username")
    list_select_related = ("owner", "created_by")
    readonly_fields = ("created_by", "created")
    # An id, not a drop-down of every user.
    raw_id_fields = ("owner",)
    date_hierarchy = "expires"

    @admin.display(boolean=True, description="Active")
    def active(self, rule: MuteRule) -> bool:
        return rule.is_active

    @admin.display(description="Reason")
    def short_reason(self, rule: MuteRule) -> str:
        return rule.reason if len(rule.reason) <= 80 else rule.reason[:79] + "…"

    def save_model(self, request, obj: MuteRule, form, change) -> None:
        if not change:
            obj.created_by = request.user
        super().save_model(request, obj, form, change)


@admin.register(AwsConnection)
class AwsConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "role_arn", "account_id", "verified_at")
    readonly_fields = ("external_id",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "scope", "created", "expires_at", "last_used", "revoked")
    readonly_fields = ("user", "name", "prefix", "token_hash", "created", "last_used")
    actions = ["revoke"]

    def has_add_permission(self, request) -> bool:
        # A token is shown once to the user who creates it; made here it would have no secret (and an empty
        # hash, which the second one collided with: a 500). The changelist says where to create one.
        return False

    def changelist_view(self, request, extra_context=None):
        self.message_user(request, "API tokens are created by each user on their API tokens page; here you can "
                                   "see and revoke them.", messages.INFO)  # fmt: skip
        return super().changelist_view(request, extra_context)

    @admin.action(description="Revoke selected tokens")
    def revoke(self, request, queryset) -> None:
        count = queryset.filter(revoked__isnull=True).update(revoked=timezone.now())
        self.message_user(request, f"{count} token(s) revoked.", messages.SUCCESS)
