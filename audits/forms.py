import json
import re

from django import forms

from audits.models import FRAMEWORK_CHOICES, FRAMEWORK_KEYS, SEVERITIES, AuditRun, AwsConnection

# arn:<partition>:iam::<12 digits>:role/<optional path/>name, as IAM allows in role names and paths.
ROLE_ARN = re.compile(r"^arn:aws(-[a-z]+)*:iam::\d{12}:role/([\w+=,.@-]+/)*[\w+=,.@-]{1,64}$")


class NewAuditForm(forms.Form):
    source = forms.ChoiceField(
        choices=AuditRun.Source.choices, initial=AuditRun.Source.DEMO, widget=forms.RadioSelect
    )
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

    def __init__(self, *args, user=None, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        if user is not None:
            self.fields["connection"].queryset = AwsConnection.objects.filter(owner=user)
        self.snapshot = None

    def clean(self) -> dict:
        cleaned = super().clean()
        source = cleaned.get("source")
        if source == AuditRun.Source.SNAPSHOT:
            upload = cleaned.get("snapshot_file")
            if not upload and "snapshot_file" not in self.errors:
                self.add_error("snapshot_file", "Choose a snapshot file to upload.")
            elif upload:
                self.snapshot = self._load(upload)
        elif source == AuditRun.Source.CONNECTION and not cleaned.get("connection"):
            self.add_error("connection", "Choose one of your AWS connections (add one under Connections).")
        return cleaned

    def _load(self, upload):
        from audits.iam.snapshot import SnapshotError, load_snapshot

        try:
            snapshot = load_snapshot(upload.read())
            # The bundle is stored in a JSON column, which has no NaN or Infinity.
            json.dumps(snapshot.to_dict(), allow_nan=False)
        except SnapshotError as exc:
            self.add_error("snapshot_file", str(exc))
        except ValueError:
            self.add_error("snapshot_file", "Snapshot contains NaN or Infinity, which JSON does not allow.")
        except (TypeError, AttributeError, RecursionError):
            self.add_error("snapshot_file", "Snapshot could not be read: expected a JSON object at the top level.")
        else:
            return snapshot
        return None


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
            raise forms.ValidationError(
                "Enter an IAM role ARN such as arn:aws:iam::123456789012:role/AegisAudit."
            )
        return value


FINDING_SORTS = [
    ("severity", "Severity, worst first"), ("-severity", "Severity, mildest first"),
    ("title", "Finding A to Z"), ("-title", "Finding Z to A"),
    ("principal", "Principal A to Z"), ("-principal", "Principal Z to A"),
    ("category", "Category A to Z"), ("-category", "Category Z to A"),
    ("check", "Check A to Z"), ("-check", "Check Z to A"),
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
        required=False, coerce=int, empty_value=50, label="Per page",
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
