"""Admin review of past audits: filters, read-only history, review state, suppressions."""

from urllib.parse import urlencode

from django.contrib import admin, messages
from django.db import connection
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html

from audits.models import FRAMEWORK_CHOICES, ApiToken, AuditEvent, AuditRun, AwsConnection, Finding, Suppression


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False


class EventInline(ReadOnlyInline):
    model = AuditEvent
    fields = ("seq", "type", "progress", "message", "created")
    readonly_fields = fields


class FindingInline(ReadOnlyInline):
    model = Finding
    fields = ("severity", "category", "check_id", "principal_name", "title", "suppressed", "accept_risk")
    readonly_fields = fields

    @admin.display(description="Accept risk")
    def accept_risk(self, finding: Finding) -> str:
        return _accept_risk_link(finding)


def _accept_risk_link(finding: Finding) -> str:
    query = urlencode(
        {
            "run": finding.run_id,
            "account_id": finding.run.account_id,
            "fingerprint": finding.fingerprint,
            "check_id": finding.check_id,
            "title": finding.title[:300],
        }
    )
    return format_html('<a href="{}?{}">Suppress…</a>', reverse("admin:audits_suppression_add"), query)


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
class AuditRunAdmin(admin.ModelAdmin):
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
        "snapshot_name", "created", "started", "finished", "heartbeat", "last_seq", "checkpoint", "error",
        "result", "reviewer", "reviewed_at", "replay_link",
    )  # fmt: skip
    fieldsets = (
        ("Run", {"fields": ("owner", "source", "connection", "account_id", "frameworks", "status", "progress",
                            "risk_score", "created", "started", "finished", "error", "replay_link")}),
        ("Review", {"fields": ("review_state", "review_notes", "reviewer", "reviewed_at")}),
        ("Internals", {"classes": ("collapse",), "fields": ("snapshot_name", "last_seq", "checkpoint", "heartbeat",
                                                             "result")}),
    )  # fmt: skip
    inlines = [FindingInline, EventInline]
    actions = ["mark_approved", "mark_follow_up", "mark_unreviewed"]

    def get_queryset(self, request):
        return super().get_queryset(request).defer("snapshot")

    def has_add_permission(self, request) -> bool:
        return False  # runs are started from the portal, where input is validated

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
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "type", "progress", "message", "created")
    list_filter = ("type",)
    search_fields = ("message",)
    list_select_related = ("run",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False  # the stored log is evidence: read-only


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("run", "severity", "category", "check_id", "principal_name", "title", "suppressed", "accept")
    list_filter = ("severity", "category", "suppressed")
    search_fields = ("principal_arn", "title", "check_id", "run__account_id")
    list_select_related = ("run",)

    def has_add_permission(self, request) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

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
            # Accepted on a run: it belongs to that run's owner and account, whatever the form said.
            run = AuditRun.objects.only("owner_id", "account_id").get(pk=obj.run_id)
            obj.owner_id, obj.account_id = run.owner_id, run.account_id
        super().save_model(request, obj, form, change)


@admin.register(AwsConnection)
class AwsConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "role_arn", "account_id", "verified_at")
    readonly_fields = ("external_id",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "prefix", "created", "last_used", "revoked")
    readonly_fields = ("user", "name", "prefix", "token_hash", "created", "last_used")
