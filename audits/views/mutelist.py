"""The mutelist in the portal: reviewers list, create, delete, import and export mute rules (audits.mutelist).

A rule belongs to the user whose audits it mutes, as an accepted risk does (review_views): the form names that
user. It applies to runs that start after it is saved; finished runs keep the result they had.
"""

from datetime import timedelta

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.db import transaction
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from audits import mutelist
from audits.models import MuteRule
from audits.views.review import MAX_ACCEPT_DAYS, reviewer_required

MAX_PROBLEMS_SHOWN = 30
# The form's exception fields and the Exceptions list each fills (audits.mutelist.Exceptions).
EXCEPT_FIELDS = {f"except_{kind}": kind for kind in mutelist.EXCEPTION_KINDS}


def _owner_named(username: str):
    """The user of that user name, or None."""
    if not username.strip():
        return None
    users = get_user_model()
    return users.objects.filter(**{users.USERNAME_FIELD: username.strip()[:150]}).first()


def _page_url(owner_name: str = "") -> str:
    url = reverse("audits:mutelist")
    return f"{url}?owner={owner_name}" if owner_name else url


@reviewer_required
@require_http_methods(["GET", "POST"])
def mutelist_page(request: HttpRequest) -> HttpResponse:
    owner_name = request.GET.get("owner", "").strip()[:150]
    errors: list[str] = []
    typed: dict[str, str] = {}
    if request.method == "POST":
        typed = {k: request.POST.get(k, "")[:5000] for k in ("owner", "check_id", "arn_pattern", "account_id",
                                                            "tags", "reason", "expires", *EXCEPT_FIELDS)}  # fmt: skip
        owner = _owner_named(typed["owner"])
        draft = mutelist.Draft(
            check_id=typed["check_id"],
            arn_pattern=typed["arn_pattern"],
            account_id=typed["account_id"],
            tags=_listed(typed["tags"]),
            reason=typed["reason"],
            expires=mutelist.parse_expiry(typed["expires"]),
            exceptions={kind: _listed(typed[name]) for name, kind in EXCEPT_FIELDS.items()},
        ).check()
        errors = ([] if owner else ["name the user whose audits the rule mutes (their user name)."]) + draft.errors
        if not errors:
            rule = draft.save(owner, request.user)
            messages.success(request, f"Rule #{rule.pk} saved: it mutes matching findings in {owner}'s next audits.")
            return redirect(_page_url(owner.get_username()))
        owner_name = typed["owner"].strip()[:150]
    return _render(request, owner_name, errors, typed, status=400 if errors else 200)


def _listed(text: str) -> list[str]:
    """Entries typed one a line or separated by commas."""
    return [part.strip() for part in text.replace(",", "\n").splitlines() if part.strip()]


def _render(request: HttpRequest, owner_name: str, errors: list[str], typed: dict, status: int = 200) -> HttpResponse:
    rules = MuteRule.objects.select_related("owner", "created_by").order_by("owner_id", "pk")
    owner = _owner_named(owner_name)
    if owner_name:
        rules = rules.filter(owner=owner) if owner else rules.none()
    today = timezone.now().date()
    return render(
        request,
        "audits/mutelist.html",
        {
            "rules": rules,
            "owner_name": owner_name,
            "owner_known": owner is not None,
            "errors": errors,
            "typed": typed,
            "now": timezone.now(),
            "min_date": (today + timedelta(days=1)).isoformat(),
            "max_date": (today + timedelta(days=MAX_ACCEPT_DAYS)).isoformat(),
            "default_date": (today + timedelta(days=90)).isoformat(),
            "max_pattern": mutelist.MAX_PATTERN,
            "max_yaml_kb": mutelist.MAX_YAML_BYTES // 1024,
        },
        status=status,
    )


@reviewer_required
@require_POST
def mutelist_delete(request: HttpRequest, pk: int) -> HttpResponse:
    rule = get_object_or_404(MuteRule.objects.select_related("owner"), pk=pk)
    owner_name = rule.owner.get_username()
    rule.delete()
    messages.success(request, f"Rule #{pk} deleted: {owner_name}'s next audits no longer apply it.")
    return redirect(_page_url(request.POST.get("owner", "").strip()[:150]))


@reviewer_required
@require_GET
def mutelist_export(request: HttpRequest) -> HttpResponse:
    owner = _owner_named(request.GET.get("owner", ""))
    if owner is None:
        messages.error(request, "Choose whose rules to export: a YAML mutelist holds one user's rules.")
        return redirect(_page_url())
    text = mutelist.to_yaml(MuteRule.objects.filter(owner=owner, expires__gt=timezone.now()).order_by("pk"))
    response = HttpResponse(text, content_type="application/yaml; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="aegis-mutelist-{owner.pk}.yaml"'
    return response


@reviewer_required
@require_POST
def mutelist_import(request: HttpRequest) -> HttpResponse:
    owner_name = request.POST.get("owner", "").strip()[:150]
    owner = _owner_named(owner_name)
    upload = request.FILES.get("mutelist")
    problems: list[str] = []
    if owner is None:
        problems.append("name the user whose audits the rules mute (their user name).")
    if upload is None:
        problems.append("choose a YAML mutelist file to import.")
    elif upload.size > mutelist.MAX_YAML_BYTES:
        problems.append(f"the file is {upload.size // 1024} KB; the limit is {mutelist.MAX_YAML_BYTES // 1024} KB.")
    drafts: list[mutelist.Draft] = []
    if not problems:
        try:
            drafts = mutelist.from_yaml(upload.read(mutelist.MAX_YAML_BYTES + 1))
        except mutelist.MutelistError as exc:
            problems = exc.problems
    if problems:
        shown = problems[:MAX_PROBLEMS_SHOWN]
        if len(problems) > len(shown):
            shown.append(f"…and {len(problems) - len(shown)} more.")
        return _render(request, owner_name, ["Nothing was imported.", *shown], {"owner": owner_name}, status=400)
    with transaction.atomic():
        for draft in drafts:
            draft.save(owner, request.user)
    messages.success(request, f"{len(drafts)} rule{'s' if len(drafts) != 1 else ''} imported for {owner}.")
    return redirect(_page_url(owner.get_username()))
