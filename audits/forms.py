import codecs
import re

from django import forms
from django.core.files.uploadedfile import UploadedFile
from django.db.models import QuerySet

from audits import uploads, webhooks
from audits.models import FRAMEWORK_CHOICES, FRAMEWORK_KEYS, SEVERITIES, AuditRun, AwsConnection, UserSettings

SCREEN_CHUNK = 1024 * 1024
# arn:<partition>:iam::<12 digits>:role/<optional path/>name, as IAM allows in role names and paths.
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


def verified_connections(owner) -> QuerySet[AwsConnection]:
    """The owner's connections an audit may use: verified, and not failed since.

    The new-audit form's connection field and the API both take their choices from here."""
    return AwsConnection.objects.filter(owner=owner, verified_at__isnull=False, last_error="")


class NewAuditForm(forms.Form):
    source = forms.ChoiceField(choices=AuditRun.Source.choices, initial=AuditRun.Source.DEMO, widget=forms.RadioSelect)
    snapshot_file = forms.FileField(
        required=False,
        label="Snapshot file",
        error_messages={"empty": "The file is empty: choose the JSON export of your account's IAM."},
        help_text="The JSON output of aws iam get-account-authorization-details, or an Aegis snapshot bundle.",
    )
    connection = forms.ModelChoiceField(
        queryset=AwsConnection.objects.none(), required=False, label="AWS connection", empty_label="Choose…"
    )
    # Every framework by default: a run without one has no compliance section.
    frameworks = forms.MultipleChoiceField(
        choices=FRAMEWORK_CHOICES, required=False, widget=forms.CheckboxSelectMultiple, initial=FRAMEWORK_KEYS
    )

    def __init__(self, *args, user=None, refused_upload: str | None = None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            # An audit runs only on a connection whose role Aegis could assume.
            self.fields["connection"].queryset = verified_connections(user)
        # Said before the upload, so nobody waits for a file the limit refuses.
        self.upload_limit = uploads.shown(uploads.max_upload_bytes())
        self.fields["snapshot_file"].help_text = (
            f"The JSON output of aws iam get-account-authorization-details, or an Aegis snapshot bundle; up to "
            f"{self.upload_limit}."
        )
        # Set when the upload handler stopped reading the file (over the size limit): the message to show.
        self.refused_upload = refused_upload
        # The checked snapshot of a small upload; a large one is screened only (see uploads.FULL_CHECK_BYTES).
        self.snapshot = None

    def clean(self) -> dict:
        cleaned = super().clean()
        source = cleaned.get("source")
        if source == AuditRun.Source.SNAPSHOT:
            upload = cleaned.get("snapshot_file")
            if self.refused_upload:
                self.add_error("snapshot_file", self.refused_upload)
            elif not upload:
                if "snapshot_file" not in self.errors:
                    self.add_error("snapshot_file", "Choose a snapshot file to upload.")
            elif upload.size <= uploads.FULL_CHECK_BYTES:
                self.snapshot = self._load(upload)
            else:
                self._screen(upload)
        elif source == AuditRun.Source.CONNECTION and not cleaned.get("connection"):
            self.add_error("connection", "Choose one of your AWS connections (add one under Connections).")
        return cleaned

    def _load(self, upload: UploadedFile):
        from audits.iam.snapshot import SnapshotError, load_snapshot

        try:
            snapshot = load_snapshot(upload.read())
        except SnapshotError as exc:
            self.add_error("snapshot_file", str(exc))
        except (ValueError, TypeError, AttributeError, RecursionError):
            self.add_error("snapshot_file", "Snapshot could not be read: expected a JSON object of IAM data.")
        else:
            upload.seek(0)
            return snapshot
        return None

    def _screen(self, upload: UploadedFile) -> None:
        """What a large upload must pass before it is queued: UTF-8 text that starts a JSON object."""
        decoder = codecs.getincrementaldecoder("utf-8-sig")()
        first = ""
        upload.seek(0)
        try:
            for chunk in upload.chunks(SCREEN_CHUNK):
                text = decoder.decode(chunk)
                first = first or text.lstrip()[:1]
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            self.add_error("snapshot_file", "Snapshot is not UTF-8 text.")
            return
        finally:
            upload.seek(0)
        if first != "{":
            self.add_error("snapshot_file", "Snapshot must be a JSON object (the output of "
                                            "`aws iam get-account-authorization-details`).")  # fmt: skip


class ConnectionForm(forms.ModelForm):
    class Meta:
        model = AwsConnection
        fields = ["name", "role_arn"]
        labels = {"role_arn": "Role ARN"}
        help_texts = {"role_arn": "For example arn:aws:iam::123456789012:role/AegisAudit"}
        widgets = {"name": forms.TextInput(attrs={"autocomplete": "off"})}

    def clean_role_arn(self) -> str:
        value = self.cleaned_data["role_arn"].strip()
        if not ROLE_ARN.match(value):
            raise forms.ValidationError("Enter an IAM role ARN such as arn:aws:iam::123456789012:role/AegisAudit.")
        return value


class WebhookForm(forms.Form):
    """The settings page's webhook: an empty URL removes it; a threshold left out keeps the saved one."""

    webhook_url = forms.CharField(required=False)  # its length too is checked by webhooks.validate_url
    webhook_threshold = forms.ChoiceField(
        required=False,
        choices=UserSettings.WebhookThreshold.choices,
        error_messages={
            "invalid_choice": "Choose when to send a message: on any change, or for a new or worsened finding at "
            "critical, high, medium, low or info."
        },
    )

    def clean_webhook_url(self) -> str:
        # Checked here rather than by a URLField, whose own rules (and an added scheme) would differ from sending's.
        url = self.cleaned_data["webhook_url"]
        error = webhooks.validate_url(url) if url else ""
        if error:
            raise forms.ValidationError(error)
        return url


FINDING_SORTS = [
    ("severity", "Severity, worst first"),
    ("-severity", "Severity, mildest first"),
    ("title", "Finding A to Z"),
    ("-title", "Finding Z to A"),
    ("principal", "Principal A to Z"),
    ("-principal", "Principal Z to A"),
    ("category", "Category A to Z"),
    ("-category", "Category Z to A"),
    ("check", "Check A to Z"),
    ("-check", "Check Z to A"),
]
FINDING_GROUPS = [("", "No grouping"), ("check", "Group by check"), ("principal", "Group by principal")]
PAGE_SIZES = [25, 50, 100, 200]


class FindingFilterForm(forms.Form):
    severity = forms.ChoiceField(required=False)
    category = forms.ChoiceField(required=False)
    framework = forms.ChoiceField(required=False)
    q = forms.CharField(
        required=False,
        max_length=200,
        label="Principal",
        widget=forms.TextInput(attrs={"type": "search", "placeholder": "Principal name or ARN"}),
    )
    sort = forms.ChoiceField(required=False, choices=FINDING_SORTS, label="Sort")
    group = forms.ChoiceField(required=False, choices=FINDING_GROUPS, label="Group")
    per = forms.TypedChoiceField(
        required=False,
        coerce=int,
        empty_value=50,
        label="Per page",
        choices=[(n, f"{n} a page") for n in PAGE_SIZES],
    )

    def __init__(self, data, *, categories: list[str], frameworks: list[str]) -> None:
        from audits.templatetags.aegis import category_title

        # An unbound page size would show the first option (25) while 50 are listed.
        if data is not None and not data.get("per"):
            data = data.copy()
            data["per"] = "50"
        super().__init__(data)
        names = dict(FRAMEWORK_CHOICES)
        self.fields["severity"].choices = [("", "Any severity")] + [(s, s.title()) for s in SEVERITIES]
        self.fields["category"].choices = [("", "Any category")] + [(c, category_title(c)) for c in categories]
        self.fields["framework"].choices = [("", "Any framework")] + [(f, names.get(f, f)) for f in frameworks]
