import secrets
from datetime import UTC
from typing import TYPE_CHECKING, ClassVar

from django.conf import settings
from django.db import models
from django.utils import timezone

from audits.iam import finding_types
from audits.iam.checks import SEVERITIES as ENGINE_SEVERITIES
from audits.iam.compliance import FRAMEWORKS
from audits.iam.events import EVENT_CHOICES

if TYPE_CHECKING:
    from enum import StrEnum

    class TextChoices(StrEnum):
        """Django's TextChoices as mypy is to see it. Django ships no type information, so mypy would take each
        member for the (value, label) tuple it is written as; at runtime it is a str enum member with a label."""

        choices: ClassVar[list[tuple[str, str]]]
        values: ClassVar[list[str]]

        @property
        def label(self) -> str: ...
else:
    TextChoices = models.TextChoices

# Derived from the engine's one list of frameworks and of severities, so the portal and the CLI never disagree.
FRAMEWORK_CHOICES: list[tuple[str, str]] = [(key, fw["label"]) for key, fw in FRAMEWORKS.items()]
FRAMEWORK_KEYS = [key for key, _ in FRAMEWORK_CHOICES]

SEVERITIES = list(ENGINE_SEVERITIES)


def new_external_id() -> str:
    return secrets.token_urlsafe(24)


class AwsConnection(models.Model):
    """A role in someone's AWS account that Aegis assumes; no long-lived secret is stored."""

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="aws_connections")
    name = models.CharField(max_length=100)
    role_arn = models.CharField(max_length=2048)
    external_id = models.CharField(max_length=64, default=new_external_id, editable=False)
    account_id = models.CharField(max_length=12, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return f"{self.name} ({self.role_arn})"


class AuditRun(models.Model):
    class Source(TextChoices):
        DEMO = "demo", "Demo account"
        SNAPSHOT = "snapshot", "Uploaded snapshot"
        CONNECTION = "connection", "AWS connection"

    class Status(TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PAUSED = "paused", "Paused"
        COMPLETED = "completed", "Completed"
        FAILED = "failed", "Failed"
        CANCELLED = "cancelled", "Cancelled"
        INTERRUPTED = "interrupted", "Interrupted"

    FINISHED = (Status.COMPLETED, Status.FAILED, Status.CANCELLED)

    class Control(TextChoices):
        NONE = "", "None"
        PAUSE = "pause", "Pause requested"
        CANCEL = "cancel", "Cancel requested"

    class Kind(TextChoices):
        ACCOUNT = "account", "Account"
        ORGANIZATION = "organization", "Organization"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="audit_runs")
    source = models.CharField(max_length=16, choices=Source.choices, default=Source.DEMO)
    kind = models.CharField(max_length=16, choices=Kind.choices, default=Kind.ACCOUNT)
    # An organization audit is a parent run; each member account is a child run of its own.
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.CASCADE, related_name="children")
    # An organization run: {"member_role_name", "external_id"}; a member account's child run: {"account_id",
    # "account_name", "role_arn", "external_id"} (the role assumed from the parent's connection).
    target = models.JSONField(default=dict, blank=True)
    # A retry is a new run of the same input; it links back to the run it retries.
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="retries")
    # The run a Retry of this one created: set once by a conditional UPDATE, so a second Retry finds it.
    retried_as = models.ForeignKey("self", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    connection = models.ForeignKey(AwsConnection, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs")
    frameworks = models.JSONField(default=list, blank=True)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.QUEUED)
    # What the owner asked for at the next checkpoint; the worker reads it between principals.
    control = models.CharField(max_length=8, choices=Control.choices, default=Control.NONE, blank=True)
    progress = models.PositiveSmallIntegerField(default=0)
    risk_score = models.PositiveSmallIntegerField(null=True, blank=True)
    result = models.JSONField(null=True, blank=True)
    account_id = models.CharField(max_length=12, blank=True)
    # What was audited (audits.runs.sources): "demo", "connection:<id>", "org:<connection>[:<account>]",
    # "upload:<sha256>". History, compare, trends and accepted risks follow it, not the bare account id.
    source_key = models.CharField(max_length=120, blank=True)
    # The input itself lives in RunInput (audits.runs.inputs), so this row stays small.
    snapshot_name = models.CharField(max_length=200, blank=True)
    # Last recorded seq; the recorder increments it in the same transaction as the insert.
    last_seq = models.PositiveIntegerField(default=0)
    checkpoint = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)
    started = models.DateTimeField(null=True, blank=True)
    finished = models.DateTimeField(null=True, blank=True)
    # Touched by the worker while it executes the run; a stale one means the worker died.
    heartbeat = models.DateTimeField(null=True, blank=True)
    # Set by each claim: a worker whose claim was taken over (it was presumed dead) may not write.
    claim = models.CharField(max_length=32, blank=True)

    class Review(TextChoices):
        UNREVIEWED = "unreviewed", "Unreviewed"
        APPROVED = "approved", "Approved"
        FOLLOW_UP = "follow_up", "Needs follow-up"

    review_state = models.CharField(max_length=12, choices=Review.choices, default=Review.UNREVIEWED)
    reviewer = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="reviewed_runs"
    )
    review_notes = models.TextField(blank=True)
    reviewed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # The dashboard: a user's runs, newest first.
            models.Index(fields=["owner", "-created"], name="run_owner_created"),
            # Workers and the stale-run sweep look runs up by status.
            models.Index(fields=["status"], name="run_status"),
            # An organization page: a parent's children by status.
            models.Index(fields=["parent", "status"], name="run_parent_status"),
            # compare.previous_run and the dashboard trends: an owner's runs of one source, newest first.
            models.Index(fields=["source_key", "owner", "-created"], name="run_source_owner_created"),
        ]

    def __str__(self) -> str:
        return f"Audit #{self.pk} ({self.get_source_display()}, {self.status})"

    @property
    def is_finished(self) -> bool:
        return self.status in self.FINISHED

    @property
    def is_active(self) -> bool:
        return self.status in (self.Status.QUEUED, self.Status.RUNNING)

    def get_absolute_url(self) -> str:
        from django.urls import reverse

        return reverse("audits:run", args=[self.pk])

    def duration_seconds(self) -> float | None:
        if not self.started:
            return None
        end = self.finished or timezone.now()
        return (end - self.started).total_seconds()


class AuditEvent(models.Model):
    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="events")
    seq = models.PositiveIntegerField()
    type = models.CharField(max_length=16, choices=EVENT_CHOICES)  # the engine's list (audits.iam.events)
    message = models.TextField()
    progress = models.PositiveSmallIntegerField(default=0)
    payload = models.JSONField(default=dict, blank=True)
    # Copied from the payload at write time so the timeline filters without decoding JSON.
    severity = models.CharField(max_length=8, blank=True)
    principal_arn = models.CharField(max_length=512, blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["run", "seq"]
        constraints = [
            # Gap-free, strictly ordered log per run; also the index for "events after N" reads.
            models.UniqueConstraint(fields=["run", "seq"], name="event_run_seq_unique"),
        ]

    def __str__(self) -> str:
        return f"#{self.seq} {self.type}: {self.message[:60]}"

    def to_event_dict(self) -> dict:
        """The wire shape: the payload's fields first, the core fields win on a clash."""
        data = dict(self.payload) if self.payload else {}
        data.update(
            seq=self.seq,
            type=self.type,
            message=self.message,
            progress=self.progress,
            ts=format_ts(self.created),
        )
        return data


def format_ts(moment) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


class Finding(models.Model):
    run = models.ForeignKey(AuditRun, on_delete=models.CASCADE, related_name="findings")
    check_id = models.CharField(max_length=80)
    category = models.CharField(max_length=40)
    severity = models.CharField(max_length=8)
    principal_arn = models.CharField(max_length=512, blank=True)
    principal_type = models.CharField(max_length=16, blank=True)
    principal_name = models.CharField(max_length=256, blank=True)
    policy = models.CharField(max_length=512, blank=True)
    title = models.CharField(max_length=300)
    detail = models.TextField(blank=True)
    evidence = models.JSONField(default=dict, blank=True)
    remediation = models.TextField(blank=True)
    # The concrete change: {"summary", "cli": [...], "policy": {...}, "terraform": str, "docs": [{"title", "url"}]}.
    fix = models.JSONField(default=dict, blank=True)
    controls = models.JSONField(default=dict, blank=True)
    # Same account, same issue -> same fingerprint in every run; used to compare runs.
    fingerprint = models.CharField(max_length=64)
    seq = models.PositiveIntegerField(null=True, blank=True)
    # Set when a reviewer's unexpired suppression covered this finding as the run finished.
    suppressed = models.BooleanField(default=False)
    # The mute rule that suppressed it ("rule #3: <reason>", audits.mutelist); blank for an accepted risk.
    muted_by = models.CharField(max_length=400, blank=True, default="", db_default="")
    # The grant holds only under conditions the audit could not settle (the engine scores it half); a resumed run
    # and a restated result rebuild the engine's finding from this row, so the mark must live here too.
    conditioned = models.BooleanField(default=False, db_default=False)

    class Meta:
        ordering = ["run", "seq", "pk"]
        constraints = [
            # A resumed run re-analysing a principal must not record the same finding twice.
            models.UniqueConstraint(fields=["run", "fingerprint"], name="finding_run_fingerprint_unique"),
        ]
        indexes = [
            # Results filters: a run's findings by severity.
            models.Index(fields=["run", "severity"], name="finding_run_severity"),
        ]

    def __str__(self) -> str:
        return f"[{self.severity}] {self.title}"

    FIELDS = (
        "check_id", "category", "severity", "principal_arn", "principal_type", "principal_name",
        "policy", "title", "detail", "evidence", "remediation", "fix", "controls", "fingerprint",
    )  # fmt: skip

    def to_dict(self) -> finding_types.Finding:
        """The FIELDS, as the engine emitted them, without its marks (the shape the exports share)."""
        return {
            "check_id": self.check_id,
            "category": self.category,
            "severity": self.severity,
            "principal_arn": self.principal_arn,
            "principal_type": self.principal_type,
            "principal_name": self.principal_name,
            "policy": self.policy,
            "title": self.title,
            "detail": self.detail,
            "evidence": self.evidence,
            "remediation": self.remediation,
            "fix": self.fix,
            "controls": self.controls,
            "fingerprint": self.fingerprint,
        }

    def as_engine_finding(self, *, keep_accepted: bool) -> finding_types.Finding:
        """The finding as the engine emitted it, its conditioned and mute marks included.

        keep_accepted: keep an accepted risk's suppressed mark too (restating a finished run's result). A resumed
        run leaves it out: the engine marks accepted risks again from the suppressions in force as it resumes,
        while a mute stays with the finding it was recorded on (its rule may have gone since)."""
        finding = self.to_dict()
        finding["conditioned"] = self.conditioned
        if self.muted_by:
            finding["suppressed"], finding["muted_by"] = True, self.muted_by
        elif keep_accepted and self.suppressed:
            finding["suppressed"] = True
        return finding


class Suppression(models.Model):
    """A reviewer accepted a finding's risk on one account until an expiry date.

    It belongs to the owner of the run it was accepted on: only that owner's later runs of the account inherit it,
    whatever account id another user's upload claims."""

    owner = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE, related_name="suppressions"
    )
    run = models.ForeignKey("AuditRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    account_id = models.CharField(max_length=12)
    # The source key of the run it was accepted on (audits.runs.sources): it applies to runs of that source only.
    # Blank on one accepted before sources were kept whose run is gone: it applies by account id, as it did then.
    source_key = models.CharField(max_length=120, blank=True)
    fingerprint = models.CharField(max_length=64)
    check_id = models.CharField(max_length=80, blank=True)
    title = models.CharField(max_length=300, blank=True)
    justification = models.TextField()
    expires_at = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["-created"]
        indexes = [
            # Finishing a run looks up the unexpired suppressions of its account.
            models.Index(fields=["account_id", "expires_at"], name="suppression_account_expiry"),
            # Finishing a run looks up its owner's unexpired suppressions of the account.
            models.Index(fields=["owner", "account_id", "expires_at"], name="suppression_owner_account"),
        ]

    def __str__(self) -> str:
        return f"{self.account_id}: {self.title or self.fingerprint[:12]} until {self.expires_at:%Y-%m-%d}"

    @property
    def is_active(self) -> bool:
        return self.expires_at > timezone.now()


class ApiToken(models.Model):
    """A personal token for the JSON API; only its SHA-256 is stored."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12)
    token_hash = models.CharField(max_length=64, unique=True)

    class Scope(TextChoices):
        READ = "read", "Read-only"
        WRITE = "write", "Read and write"

    scope = models.CharField(max_length=8, choices=Scope.choices, default=Scope.READ)
    expires_at = models.DateTimeField(null=True, blank=True)
    created = models.DateTimeField(default=timezone.now)
    last_used = models.DateTimeField(null=True, blank=True)
    revoked = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}...)"


class RunInput(models.Model):
    """A run's input snapshot, gzip-compressed JSON, kept out of the run row.

    Lists, pages, the admin and every event write touch the run row; none of them may drag a 40 MB snapshot
    along. Only the worker that audits the run reads this."""

    run = models.OneToOneField(AuditRun, on_delete=models.CASCADE, primary_key=True, related_name="input")
    data = models.BinaryField()
    size_bytes = models.PositiveBigIntegerField(default=0)  # uncompressed
    sha256 = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"Input of run #{self.run_id} ({self.size_bytes} bytes)"


class UserSettings(models.Model):
    """Per-user preferences: where to announce finished runs, and which changes are worth a message."""

    class WebhookThreshold(TextChoices):
        """When a finished run is announced (audits.webhooks.worth_sending): any change, or only a finding that is
        new or worse and at or above a severity."""

        ANY = "any", "Any change: new, resolved or changed in severity"
        INFO = "info", "A new or worsened finding of any severity"
        LOW = "low", "A new or worsened finding at low or above"
        MEDIUM = "medium", "A new or worsened finding at medium or above"
        HIGH = "high", "A new or worsened finding at high or above"
        CRITICAL = "critical", "A new or worsened critical finding"

    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="aegis_settings")
    # Slack-compatible incoming webhook, called when a run finishes with a change that reaches webhook_threshold.
    webhook_url = models.URLField(max_length=500, blank=True)
    # "any" is how every webhook behaved before there was a choice, so existing rows keep it.
    webhook_threshold = models.CharField(max_length=8, choices=WebhookThreshold.choices, default=WebhookThreshold.ANY)
    # A one-time password (create_reviewer) must be replaced at the first sign-in, before anything else.
    must_change_password = models.BooleanField(default=False)

    def __str__(self) -> str:
        return f"Settings of {self.user}"


class SignInCount(models.Model):
    """A sign-in throttling counter (audits.sign_in_counts): changed only by conditional UPDATEs, so racing
    sign-ins cannot all read the same count."""

    key = models.CharField(max_length=120, primary_key=True)
    count = models.PositiveIntegerField(default=0)
    expires = models.DateTimeField()

    class Meta:
        indexes = [
            # sign_in_counts.forget_expired(): the periodic sweep of windows that ended.
            models.Index(fields=["expires"], name="signin_count_expires"),
        ]

    def __str__(self) -> str:
        return f"{self.key}: {self.count} until {self.expires:%Y-%m-%d %H:%M:%S}"


class Schedule(models.Model):
    """An audit that starts by itself, daily or weekly at a time in UTC (audits.schedules claims and starts it).

    Its source is the demo account or a connection; with a connection it audits the account, or the organization
    that connection manages (kind ORGANIZATION, with the member role in `target`, as an organization run has)."""

    class Frequency(TextChoices):
        DAILY = "daily", "Daily"
        WEEKLY = "weekly", "Weekly"

    WEEKDAYS = [(0, "Monday"), (1, "Tuesday"), (2, "Wednesday"), (3, "Thursday"), (4, "Friday"), (5, "Saturday"),
                (6, "Sunday")]  # fmt: skip

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="schedules")
    source = models.CharField(max_length=16, choices=AuditRun.Source.choices, default=AuditRun.Source.CONNECTION)
    connection = models.ForeignKey(
        AwsConnection, null=True, blank=True, on_delete=models.CASCADE, related_name="schedules"
    )
    kind = models.CharField(max_length=16, choices=AuditRun.Kind.choices, default=AuditRun.Kind.ACCOUNT)
    # An organization schedule: {"member_role_name", "external_id"}, copied into each run it starts.
    target = models.JSONField(default=dict, blank=True)
    frameworks = models.JSONField(default=list, blank=True)
    frequency = models.CharField(max_length=8, choices=Frequency.choices, default=Frequency.DAILY)
    at = models.TimeField(help_text="UTC")
    weekday = models.PositiveSmallIntegerField(null=True, blank=True, choices=WEEKDAYS)
    enabled = models.BooleanField(default=True)
    # Moved forward by the conditional UPDATE that claims a due schedule, so one process starts each due audit.
    next_due = models.DateTimeField(null=True, blank=True)
    last_run = models.ForeignKey(AuditRun, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    last_attempt = models.DateTimeField(null=True, blank=True)
    # Why the last due time started no audit (the owner at the active-run limit, an unverified connection...).
    last_error = models.TextField(blank=True)
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # schedules.run_due_schedules(): enabled schedules whose next_due has passed.
            models.Index(fields=["enabled", "next_due"], name="schedule_due"),
        ]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(source=AuditRun.Source.CONNECTION, connection__isnull=False)
                    | models.Q(source=AuditRun.Source.DEMO, connection__isnull=True, kind=AuditRun.Kind.ACCOUNT)
                ),
                name="schedule_source_matches_connection",
            ),
            models.UniqueConstraint(
                fields=["connection", "kind"],
                condition=models.Q(connection__isnull=False),
                name="schedule_one_per_connection_kind",
            ),
            models.UniqueConstraint(
                fields=["owner"], condition=models.Q(source=AuditRun.Source.DEMO), name="schedule_one_demo_per_owner"
            ),
        ]

    def __str__(self) -> str:
        return f"Schedule #{self.pk}: {self.describe()}"

    def describe(self) -> str:
        when = f"{self.at:%H:%M} UTC"
        if self.frequency == self.Frequency.WEEKLY and self.weekday is not None:
            return f"weekly on {dict(self.WEEKDAYS)[self.weekday]} at {when}"
        return f"daily at {when}"


class MuteRule(models.Model):
    """A reviewer's rule that mutes a class of findings in an owner's later audits until it expires.

    Scoped like Suppression: it belongs to the owner whose audits it mutes, so one tenant's rules never reach
    another's runs. A finding is muted when every part matches: check id, principal or resource ARN pattern
    (IAM wildcards, audits.iam.arns), account and tags, and its exceptions do not (see audits.mutelist)."""

    ANY = "*"

    owner = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="mute_rules")
    check_id = models.CharField(max_length=80, default=ANY)
    arn_pattern = models.CharField(max_length=2048, default=ANY)
    account_id = models.CharField(max_length=12, default=ANY)
    # "key=value" strings, every one of which the principal's tags must carry.
    tags = models.JSONField(default=list, blank=True)
    # Prowler's Exceptions, each a list: {"accounts", "regions", "resources", "tags"}. A finding that every given
    # list matches (any entry of it) is not muted by this rule (audits.mutelist.Exceptions).
    exceptions = models.JSONField(default=dict, blank=True)
    reason = models.TextField()
    expires = models.DateTimeField()
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    created = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["pk"]
        indexes = [
            # A run starting loads its owner's unexpired rules (audits.mutelist.active_rules).
            models.Index(fields=["owner", "expires"], name="muterule_owner_expires"),
        ]

    def __str__(self) -> str:
        return f"Rule #{self.pk}: {self.check_id} on {self.arn_pattern} in {self.account_id}"

    @property
    def is_active(self) -> bool:
        return self.expires > timezone.now()

    def label(self) -> str:
        """What a muted finding carries as muted_by."""
        return f"rule #{self.pk}: {self.reason}"[:400]
