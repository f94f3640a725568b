""" "What if…": a change applied to a run's stored snapshot, as a page and in the API (audits.iam.whatif_report).

The change is pasted as IAM operations in JSON, as `aws iam` lines, or as a Terraform JSON plan (`terraform show
-json`); which one is told from the text. A what-if audits the account twice, so it is bounded more tightly than
"Who can…?": one at a time per process (and it takes one of query_guard's slots too, so the two kinds together stay
within query_guard's bound), the same snapshot size limit, a time limit, and a 256 KB change. Past a limit the page
says so (413, 503, 422); it never queues. `?fix=<finding>` fills in the finding's own fix and runs it.
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from typing import Any

from django.contrib.auth.decorators import login_required
from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, render
from django.views.decorators.http import require_http_methods, require_POST

from audits import query_guard
from audits.iam.changeset import ChangeSetError, parse_cli
from audits.iam.snapshot import SnapshotError
from audits.iam.terraform_plan import PlanError, ops_from_plan
from audits.iam.whatif_report import WhatIf, compare
from audits.models import AuditRun, Finding
from audits.runs import access
from audits.views.api import _error, token_required
from audits.views.query import NoInputError, _snapshot_of

MAX_CHANGE_BYTES = 256 * 1024
WHATIF_SECONDS = 60.0
WHATIF_SLOTS = 1
_slots = threading.BoundedSemaphore(WHATIF_SLOTS)

JSON_OPS, CLI, TERRAFORM = "IAM operations in JSON", "aws iam lines", "Terraform plan"
PLACEHOLDER = '[{"Operation": "DetachRolePolicy", "RoleName": "...", "PolicyArn": "arn:aws:iam::aws:policy/..."}]'


class ChangeError(ValueError):
    """A change the what-if cannot read: the message says why, shown with `status`."""

    def __init__(self, message: str, status: int = 400) -> None:
        super().__init__(message)
        self.status = status


@dataclass
class Change:
    kind: str
    ops: list[dict]
    not_modelled: list[str] = field(default_factory=list)


@dataclass
class Outcome:
    report: WhatIf | None = None
    change: Change | None = None
    error: str = ""
    status: int = 200
    retry_after: int | None = None

    def respond(self, response: HttpResponse) -> HttpResponse:
        if self.retry_after:
            response["Retry-After"] = str(self.retry_after)
        return response


# --- reading the change --------------------------------------------------------------------------------------------


def _ops_list(value: Any, where: str) -> list[dict]:
    if isinstance(value, dict) and "Operation" in value:
        value = [value]
    if not isinstance(value, list) or not value or not all(isinstance(op, dict) for op in value):
        raise ChangeError(f'{where}: expected a list of operations, e.g. [{{"Operation": "PutUserPolicy", ...}}]')
    return value


def _from_plan(plan: Any, account_id: str) -> Change:
    try:
        found = ops_from_plan(plan, account_id or "000000000000")
    except PlanError as exc:
        raise ChangeError(str(exc)) from None
    if not found.ops and not found.skipped:
        raise ChangeError("The Terraform plan changes no IAM resource: there is nothing to try.")
    return Change(TERRAFORM, found.ops, found.skipped)


def read_change(text: str, account_id: str) -> Change:
    """The pasted text as operations: JSON (a list of operations, {"ops": [...]}, or a Terraform plan) or CLI lines."""
    if len(text.encode("utf-8", errors="replace")) > MAX_CHANGE_BYTES:
        raise ChangeError(f"The change is over {MAX_CHANGE_BYTES // 1024} KB; the what-if takes up to that.", 413)
    text = text.strip()
    if not text:
        raise ChangeError("Paste a change: IAM operations as JSON, `aws iam` lines, or a Terraform JSON plan.")
    if not text.startswith(("[", "{")):
        try:
            ops = parse_cli(text)
        except ChangeSetError as exc:
            raise ChangeError(str(exc)) from None
        if not ops:
            raise ChangeError("No `aws iam` command found in the text.")
        return Change(CLI, ops)
    try:
        loaded = json.loads(text)
    except json.JSONDecodeError as exc:
        raise ChangeError(f"The change is not valid JSON ({exc.msg} at line {exc.lineno}).") from None
    except RecursionError:
        raise ChangeError("The change is nested too deeply to read.") from None
    if isinstance(loaded, dict) and ("resource_changes" in loaded or "planned_values" in loaded):
        return _from_plan(loaded, account_id)
    if isinstance(loaded, dict) and "Operation" not in loaded:
        loaded = loaded.get("ops", loaded.get("Operations"))
    return Change(JSON_OPS, _ops_list(loaded, "The change"))


def change_from_api(body: Any, account_id: str) -> Change:
    """The API's body: exactly one of {"ops": [...]}, {"cli": "..."}, {"terraform_plan": {...}}."""
    keys = [key for key in ("ops", "cli", "terraform_plan") if isinstance(body, dict) and key in body]
    if len(keys) != 1:
        raise ChangeError('Send a JSON object with exactly one of "ops" (a list), "cli" (text), "terraform_plan".')
    value = body[keys[0]]
    if keys[0] == "ops":
        return Change(JSON_OPS, _ops_list(value, '"ops"'))
    if keys[0] == "terraform_plan":
        return _from_plan(value, account_id)
    if not isinstance(value, str):
        raise ChangeError('"cli" must be text: `aws iam` lines, one command a line.')
    return read_change(value, account_id)


# --- running it, bounded ------------------------------------------------------------------------------------------


def _too_large_message() -> str:
    limit = query_guard.max_snapshot_bytes()
    shown = f"{limit / 1024 / 1024:.1f} MB" if limit >= 1024 * 1024 else f"{limit / 1024:.0f} KB"
    return (
        f"The portal runs a what-if on snapshots up to {shown}; this audit's snapshot is larger. "
        "Run `manage.py audit whatif --snapshot FILE --change CHANGES.json` instead."
    )


def _compare_in_time(snapshot, ops: list[dict]) -> WhatIf:
    """Two audits in a thread of their own, waited for WHATIF_SECONDS: past that the page answers and the thread
    finishes on its own, holding the what-if slot until it does (so slow what-ifs cannot pile up)."""
    done = threading.Event()
    result: dict[str, Any] = {}

    def work() -> None:
        try:
            result["report"] = compare(snapshot, ops)
        except Exception as exc:  # the page must answer whatever the engine meets
            result["error"] = exc
        finally:
            _slots.release()  # before the waiter wakes: the next what-if finds the slot free
            done.set()

    threading.Thread(target=work, name="aegis-whatif", daemon=True).start()
    if not done.wait(WHATIF_SECONDS):
        raise ChangeError(
            f"The what-if took longer than {WHATIF_SECONDS:.0f} seconds and was left to finish on its own. "
            "Run `manage.py audit whatif` on the snapshot instead.",
            422,
        )
    if "error" in result:
        raise ChangeError(f"The what-if could not run on this change ({type(result['error']).__name__}).", 422)
    return result["report"]


def run_whatif(run: AuditRun, read) -> Outcome:
    """`read(account_id) -> Change` parses the input before anything heavy happens: bad input costs nothing."""
    try:
        change = read(run.account_id or "")
    except ChangeError as exc:
        return Outcome(error=str(exc), status=exc.status)
    if not _slots.acquire(blocking=False):
        wait = query_guard.RETRY_AFTER_S
        return Outcome(
            change=change,
            error=f"Another what-if is running; try again in {wait} seconds.",
            status=503,
            retry_after=wait,
        )
    handed_over = False
    try:
        with query_guard.query_slot():
            snapshot = _snapshot_of(run)
            if change.kind == TERRAFORM and not run.account_id and snapshot.account_id:
                change = read(snapshot.account_id)  # a plan's new ARNs name the account
            handed_over = True  # from here the worker thread releases the slot
            return Outcome(report=_compare_in_time(snapshot, change.ops), change=change)
    except query_guard.RefusedError as exc:
        message = _too_large_message() if exc.status == 413 else str(exc)
        return Outcome(change=change, error=message, status=exc.status, retry_after=exc.retry_after)
    except ChangeError as exc:
        return Outcome(change=change, error=str(exc), status=exc.status)
    except (NoInputError, SnapshotError) as exc:
        return Outcome(change=change, error=str(exc), status=400)
    except (OSError, EOFError, ValueError):  # a corrupt stored input: a message, not a 500
        return Outcome(change=change, error="This audit's stored snapshot cannot be read.", status=400)
    finally:
        if not handed_over:
            _slots.release()


# --- the page ----------------------------------------------------------------------------------------------------


def _fix_text(finding: Finding) -> str:
    ops = (finding.fix or {}).get("ops") if isinstance(finding.fix, dict) else None
    if not isinstance(ops, list) or not ops:
        raise ChangeError("This finding has no change set to try: its fix is advice, not IAM operations.")
    return json.dumps(ops, indent=2)


@login_required
@require_http_methods(["GET", "POST"])
def whatif_page(request: HttpRequest, pk: int) -> HttpResponse:
    run = access.get_visible_run(request, pk)
    finding = None
    text = ""
    outcome: Outcome | None = None
    if request.method == "POST":
        try:
            text = request.POST.get("change", "")
        except RequestDataTooBig:
            outcome = Outcome(error=f"The change is over {MAX_CHANGE_BYTES // 1024} KB.", status=413)
    elif request.GET.get("fix"):
        if not request.GET["fix"].isdigit():
            outcome = Outcome(error="?fix= takes a finding's number.", status=400)
        else:
            finding = get_object_or_404(Finding, pk=int(request.GET["fix"]), run=run)
            try:
                text = _fix_text(finding)
            except ChangeError as exc:
                outcome = Outcome(error=str(exc), status=exc.status)
    if outcome is None and (request.method == "POST" or text):
        outcome = run_whatif(run, lambda account_id: read_change(text, account_id))
    outcome = outcome or Outcome()
    report = outcome.report
    fixed = bool(report and finding and any(f.get("fingerprint") == finding.fingerprint for f in report.removed))
    context = {
        "run": run,
        "text": text if len(text) <= MAX_CHANGE_BYTES else "",
        "finding": finding,
        "finding_gone": fixed,
        "outcome": outcome,
        "report": report,
        "gate_failures": report.gate_failures if report else [],
        "max_kb": MAX_CHANGE_BYTES // 1024,
        "placeholder": PLACEHOLDER,
    }
    return outcome.respond(render(request, "audits/whatif.html", context, status=outcome.status))


# --- the API -----------------------------------------------------------------------------------------------------


@token_required
@require_POST
def api_whatif(request: HttpRequest, pk: int) -> JsonResponse:
    """Read scope is enough: a what-if changes nothing."""
    run = access.find_visible_run(request, pk)
    if run is None:
        return _error(404, "No such audit.")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > MAX_CHANGE_BYTES:
        return _error(413, f"The request body is over {MAX_CHANGE_BYTES // 1024} KB.")
    try:
        raw = request.body
    except RequestDataTooBig:
        return _error(413, f"The request body is over {MAX_CHANGE_BYTES // 1024} KB.")
    if len(raw) > MAX_CHANGE_BYTES:
        return _error(413, f"The request body is over {MAX_CHANGE_BYTES // 1024} KB.")
    try:
        body = json.loads(raw or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError, RecursionError):
        return _error(400, 'The body is not JSON: send {"ops": [...]}, {"cli": "..."} or {"terraform_plan": {...}}.')
    outcome = run_whatif(run, lambda account_id: change_from_api(body, account_id))
    if outcome.error:
        return outcome.respond(_error(outcome.status, outcome.error))
    change, report = outcome.change, outcome.report
    if change is None or report is None:
        return _error(422, "The what-if gave no answer.")
    return JsonResponse(
        {
            "run": run.pk,
            "input": change.kind,
            "operations": len(change.ops),
            "not_modelled": change.not_modelled,
            **report.to_dict(),
            "gate_failures": [
                {k: f.get(k) for k in ("check_id", "severity", "principal_arn", "title")} for f in report.gate_failures
            ],
        }
    )
