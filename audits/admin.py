from django.contrib import admin

from audits.models import AuditEvent, AuditRun, AwsConnection, Finding


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
    fields = ("severity", "category", "check_id", "principal_name", "title")
    readonly_fields = fields


@admin.register(AuditRun)
class AuditRunAdmin(admin.ModelAdmin):
    list_display = ("id", "owner", "source", "status", "progress", "risk_score", "account_id", "created")
    list_filter = ("status", "source", "created")
    search_fields = ("account_id", "owner__username", "findings__principal_arn")
    readonly_fields = ("last_seq", "checkpoint", "started", "finished", "result", "error")
    exclude = ("snapshot",)
    inlines = [FindingInline, EventInline]


@admin.register(AuditEvent)
class AuditEventAdmin(admin.ModelAdmin):
    list_display = ("run", "seq", "type", "progress", "message", "created")
    list_filter = ("type",)
    search_fields = ("message",)
    list_select_related = ("run",)


@admin.register(Finding)
class FindingAdmin(admin.ModelAdmin):
    list_display = ("run", "severity", "category", "check_id", "principal_name", "title")
    list_filter = ("severity", "category")
    search_fields = ("principal_arn", "title", "check_id")
    list_select_related = ("run",)


@admin.register(AwsConnection)
class AwsConnectionAdmin(admin.ModelAdmin):
    list_display = ("name", "owner", "role_arn", "account_id", "verified_at")
    readonly_fields = ("external_id",)
