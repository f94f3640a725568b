from django import forms

from audits.models import FRAMEWORK_CHOICES, AuditRun


class NewAuditForm(forms.Form):
    source = forms.ChoiceField(choices=AuditRun.Source.choices, initial=AuditRun.Source.DEMO)
    frameworks = forms.MultipleChoiceField(
        choices=FRAMEWORK_CHOICES, required=False, widget=forms.CheckboxSelectMultiple
    )
