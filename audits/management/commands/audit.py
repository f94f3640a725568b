"""`manage.py audit`: run the IAM engine from the command line and write a JSON, CSV or SARIF report.

`manage.py audit query --snapshot FILE --action ACTION [--resource ARN] [--principal ARN] [--format json|text]`
asks the evaluator instead: every principal with its decision, the statements and the open conditions.

`manage.py audit whatif --snapshot FILE --change CHANGES | --plan PLAN.json [--format json|text]` applies IAM
operations (JSON, or `aws iam` lines) or a Terraform plan to the snapshot and prints the findings and access they
add and remove; it exits 1 when the change opens a new path to administrator (a CI gate).

`manage.py audit fixes --snapshot FILE [--format json|cli|terraform]` prints one change set that fixes every admin
and escalation finding (the findings' fixes merged and proven together); it exits 1 when any of them is left.

`manage.py audit simulate --input FILE [--format json|table]` is the offline policy simulator: IAM's
SimulateCustomPolicy parameters in (the --cli-input-json of `aws iam simulate-custom-policy`), its
EvaluationResults out (docs/simulate.md).

`manage.py audit --snapshot FILE --mutelist MUTELIST.yaml` applies a mutelist file (docs/mutelist.md, the portal's
YAML export): a finding an unexpired rule covers is marked muted, naming the rule, kept in the report (SARIF
suppressions, "suppressed"/"muted_by" in JSON and CSV) and left out of the score, the counts and --fail-on.

Each admin and escalation fix is proven (applied to the snapshot, the account audited again until the finding is
gone) for accounts up to AEGIS_VERIFY_FIXES_MAX_PRINCIPALS users and roles (10,000), as in the worker, so the CLI and
the portal print the same fixes; --verify-fixes proves them at any size, --no-verify-fixes prints first cuts only.

Exit codes: 0 clean, 1 findings at or above --fail-on, 2 the audit could not run (bad input, unknown framework,
unreadable file, AWS credentials, a mutelist file with a bad rule). main(argv) needs no Django, so it can also run
without django.setup().
"""

from __future__ import annotations

import argparse
import shutil
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, TextIO

from audits.iam.checks import SEVERITIES  # the engine's one list; light to import (no dataset)
from audits.iam.finding_types import Finding

FORMATS = ("json", "csv", "sarif")
QUERY_FORMATS = ("json", "text")
SIMULATE_FORMATS = ("json", "table")
FIXES_FORMATS = ("json", "cli", "terraform")
QUIET_TYPES = {"finding", "principal", "thinking", "stats"}  # too many for a log; the report has them


class InputError(Exception):
    """Shown as 'audit: <message>' with exit code 2."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "command",
        nargs="?",
        choices=["query", "simulate", "whatif", "fixes"],
        help="query: who can do --action (on --resource)? simulate: the policy simulator on --input; "
        "whatif: the findings and access a --change or --plan adds and removes; "
        "fixes: one change set for every admin and escalation finding",
    )
    # Required for the report and query (checked in _run): simulate reads --input instead.
    source = parser.add_mutually_exclusive_group()
    source.add_argument(
        "--snapshot",
        metavar="FILE",
        help="get-account-authorization-details output or a bundle; - reads standard input",
    )
    source.add_argument("--live", action="store_true", help="read the account through boto3's credential chain")
    source.add_argument("--demo", action="store_true", help="audit the bundled demo account")
    parser.add_argument("--role-arn", help="with --live: assume this role first")
    parser.add_argument("--external-id", help="with --role-arn: the ExternalId the role's trust policy expects")
    parser.add_argument("--region", default="us-east-1", help="with --live: region for STS (default us-east-1)")
    parser.add_argument("--frameworks", default="", help="comma-separated, e.g. pci_dss,hipaa; 'all' for every one")
    parser.add_argument(
        "--format",
        choices=sorted({*FORMATS, *QUERY_FORMATS, *SIMULATE_FORMATS, *FIXES_FORMATS}),
        default="json",
        help="report: json, csv or sarif; query: json or text; simulate: json or table; fixes: json, cli or terraform",
    )
    parser.add_argument("--action", help="with query: the action to ask about, e.g. iam:PassRole")
    parser.add_argument("--resource", help="with query: the resource ARN (default '*')")
    parser.add_argument("--principal", help="with query: only this user or role (ARN or name)")
    parser.add_argument("--input", metavar="FILE", help="with simulate: the request as JSON; - reads standard input")
    change = parser.add_mutually_exclusive_group()
    change.add_argument(
        "--change", metavar="FILE", help="with whatif: IAM operations as JSON, or a script of `aws iam` lines"
    )
    change.add_argument("--plan", metavar="FILE", help="with whatif: `terraform show -json PLANFILE` output")
    parser.add_argument("--output", metavar="FILE", help="write the report here instead of standard output")
    parser.add_argument(
        "--fail-on", choices=SEVERITIES, help="exit 1 when a finding (not muted) is at least this severe"
    )
    parser.add_argument(
        "--mutelist",
        metavar="FILE",
        help="a YAML mutelist (docs/mutelist.md): findings its unexpired rules cover are marked muted with the rule, "
        "kept in the report (SARIF suppressions) and left out of the score, the counts and --fail-on",
    )
    parser.add_argument("--quiet", action="store_true", help="no progress on standard error")
    proofs = parser.add_mutually_exclusive_group()
    proofs.add_argument(
        "--verify-fixes",
        dest="verify_fixes",
        action="store_const",
        const=True,
        help="prove each admin and escalation fix whatever the account's size (by default fixes are proven for "
        "accounts up to AEGIS_VERIFY_FIXES_MAX_PRINCIPALS users and roles, 10,000): apply it to the snapshot and "
        "audit again until the finding is gone",
    )
    proofs.add_argument(
        "--no-verify-fixes",
        dest="verify_fixes",
        action="store_const",
        const=False,
        help="print each fix's first cut without proving it (faster; such fixes say they are not verified)",
    )


def main(argv: list[str], *, stdout: TextIO | None = None, stderr: TextIO | None = None) -> int:
    stdout, stderr = stdout or sys.stdout, stderr or sys.stderr
    parser = argparse.ArgumentParser(prog="manage.py audit", description=__doc__.split("\n")[0])
    add_arguments(parser)
    try:
        options = parser.parse_args(argv)
    except SystemExit as exc:  # argparse has printed the usage error (or --help)
        return int(exc.code or 0)
    return run(options, stdout=stdout, stderr=stderr)


def run(options: argparse.Namespace, *, stdout: TextIO, stderr: TextIO) -> int:
    try:
        return _run(options, stdout, stderr)
    except InputError as exc:
        stderr.write(f"audit: {exc}\n")
        return 2


def _query(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    import json

    from audits.iam.query import QueryError, as_text, who_can

    if options.format not in QUERY_FORMATS:
        raise InputError(f"query --format is json or text, not {options.format}")
    if not options.action:
        raise InputError("query needs --action, e.g. --action iam:PassRole")
    snapshot, _ = _snapshot(options, stderr)
    try:
        rows = who_can(snapshot, options.action, options.resource, options.principal)
    except QueryError as exc:
        raise InputError(str(exc)) from None
    if options.format == "json":
        text = json.dumps({"decisions": rows}, ensure_ascii=False, default=str) + "\n"
    else:
        text = as_text(rows, options.action, options.resource)
    _write(text, options.output, stdout)
    return 0


def _simulate(options: argparse.Namespace, stdout: TextIO) -> int:
    import json

    from audits.iam.simulate import MAX_INPUT_BYTES, SimulationError, as_table, load_request, simulate

    if options.format not in SIMULATE_FORMATS:
        raise InputError(f"simulate --format is json or table, not {options.format}")
    if options.snapshot or options.live or options.demo:
        raise InputError("simulate reads its policies from --input, not from a snapshot or an account")
    if not options.input:
        raise InputError("simulate needs --input FILE (SimulateCustomPolicy's parameters as JSON; - for stdin)")
    name = "stdin" if options.input == "-" else options.input
    if options.input == "-":
        raw = sys.stdin.buffer.read(MAX_INPUT_BYTES + 1)
    else:
        try:
            with open(options.input, "rb") as fh:
                raw = fh.read(MAX_INPUT_BYTES + 1)  # one byte over is enough to refuse it
        except OSError as exc:
            raise InputError(f"cannot read {options.input}: {exc.strerror or exc}") from None
    if len(raw) > MAX_INPUT_BYTES:
        raise InputError(f"{name}: the input is over {MAX_INPUT_BYTES // 1024 // 1024} MB")
    try:
        response = simulate(load_request(raw))
    except SimulationError as exc:
        raise InputError(f"{name}: {exc}") from None
    text = json.dumps(response, indent=4) + "\n" if options.format == "json" else as_table(response)
    _write(text, options.output, stdout)
    return 0


WHATIF_FORMATS = ("json", "text")
MAX_CHANGE_BYTES = 16 * 1024 * 1024


def _whatif(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Exit 0: the change adds no path to administrator; 1: it does (or IAM would refuse part of it); 2: bad input."""
    import json

    from audits.iam.changeset import ChangeSetError, parse_cli
    from audits.iam.terraform_plan import PlanError, ops_from_plan
    from audits.iam.whatif_report import as_text, compare

    if options.format not in WHATIF_FORMATS:
        raise InputError(f"whatif --format is json or text, not {options.format}")
    if not (options.change or options.plan):
        raise InputError("whatif needs --change FILE (IAM operations or `aws iam` lines) or --plan FILE")
    path = options.change or options.plan
    try:
        with open(path, "rb") as fh:
            raw = fh.read(MAX_CHANGE_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    if len(raw) > MAX_CHANGE_BYTES:
        raise InputError(f"{path}: over {MAX_CHANGE_BYTES // 1024 // 1024} MB")
    text = raw.decode("utf-8", errors="replace")
    snapshot, _ = _snapshot(options, stderr)
    skipped: list[str] = []
    try:
        if options.plan:
            found = ops_from_plan(json.loads(text), snapshot.account_id or "000000000000")
            ops, skipped = found.ops, found.skipped
        elif text.lstrip().startswith(("[", "{")):
            loaded = json.loads(text)
            given = loaded.get("ops", loaded.get("Operations")) if isinstance(loaded, dict) else loaded
            if not isinstance(given, list) or not all(isinstance(op, dict) for op in given):
                raise InputError(f'{path}: expected a list of operations, e.g. [{{"Operation": "PutUserPolicy", ...}}]')
            ops = given
        else:
            ops = parse_cli(text)
    except json.JSONDecodeError as exc:
        raise InputError(f"{path}: not JSON ({exc.msg} at line {exc.lineno})") from None
    except (ChangeSetError, PlanError) as exc:
        raise InputError(f"{path}: {exc}") from None
    report = compare(snapshot, ops)
    if options.format == "json":
        body = {**report.to_dict(), "operations": len(ops), "not_modelled": skipped}
        out = json.dumps(body, indent=2, default=str) + "\n"
    else:
        out = "".join(f"not modelled  {s}\n" for s in skipped) + as_text(report)
    _write(out, options.output, stdout)
    return 1 if report.gate_failures or report.errors else 0


def _fixes(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Exit 0: every admin and escalation finding is gone after the combined plan; 1: some are left."""
    import json

    from audits.iam.fix_plan import plan_account
    from audits.iam.whatif_report import audit_findings

    if options.format not in FIXES_FORMATS:
        raise InputError(f"fixes --format is json, cli or terraform, not {options.format}")
    snapshot, _ = _snapshot(options, stderr)
    findings, _ = audit_findings(snapshot)
    plan = plan_account(snapshot, findings)
    body = plan.to_dict()
    if options.format == "json":
        out = json.dumps(body, indent=2, default=str) + "\n"
    else:
        # Comment lines: `audit whatif --change` and a shell read the CLI script as it is; Terraform ignores them.
        head = [
            f"{len(plan.ops)} IAM change(s) for {len(plan.targets)} admin and escalation finding(s) "
            f"(their fixes one by one: {plan.separate_ops}); {len(plan.gone)} gone after it",
            *(f"left: {f['check_id']} {f['principal_arn']}" for f in (*plan.remaining, *plan.outside_iam)),
            *(f"outside IAM: {step}" for step in plan.owner_steps),
            *(f"refused: {error}" for error in plan.errors),
        ]
        text = "\n".join(body["cli"]) + "\n" if options.format == "cli" else body["terraform"]
        out = "".join(f"# {line}\n" for line in head) + text
    _write(out, options.output, stdout)
    return 0 if plan.complete else 1


def _run(options: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    command = getattr(options, "command", None)
    if command and getattr(options, "mutelist", None):
        raise InputError("--mutelist goes with a report (no command)")
    if command == "simulate":
        return _simulate(options, stdout)
    if getattr(options, "input", None):
        raise InputError("--input goes with the simulate command")
    if command != "whatif" and (getattr(options, "change", None) or getattr(options, "plan", None)):
        raise InputError("--change and --plan go with the whatif command")
    if not (options.snapshot or options.live or options.demo):
        raise InputError("one of --snapshot, --live or --demo is required")
    if command == "query":
        return _query(options, stdout, stderr)
    if command == "whatif":
        return _whatif(options, stdout, stderr)
    if command == "fixes":
        return _fixes(options, stdout, stderr)
    if options.format not in FORMATS:
        raise InputError(f"--format is json, csv or sarif for a report, not {options.format}")
    if options.action or options.resource or options.principal:
        raise InputError("--action, --resource and --principal go with the query command")
    rules = _mutelist(options.mutelist, stderr) if getattr(options, "mutelist", None) else None
    from audits.iam import CHECKS, FRAMEWORKS, run_audit
    from audits.iam import report as reports

    frameworks = _frameworks(options.frameworks, FRAMEWORKS)
    if (options.role_arn or options.external_id) and not options.live:
        raise InputError("--role-arn and --external-id go with --live")
    started = _now()
    snapshot, name = _snapshot(options, stderr)
    progress = Progress(stderr, enabled=not options.quiet)
    findings: list[Finding] = []

    def emit(kind: str, message: str, percent: int | None = None, payload: dict | None = None) -> None:
        if kind == "finding":
            findings.append((payload or {})["finding"])
        progress.show(kind, message, percent)

    muted = None
    if rules is not None:
        from audits import mutelist

        muted = mutelist.muter(rules, snapshot.account_id or "", snapshot)
    verify = options.verify_fixes if options.verify_fixes is not None else _proves_by_default(snapshot)
    outcome = run_audit(snapshot, emit, frameworks=frameworks, verify_fixes=verify, muted=muted)
    progress.done()
    result = outcome.result or {}
    meta = {
        "tool": "aegis-iam",
        "source": snapshot.source,
        "snapshot_name": name,
        "account_id": snapshot.account_id,
        "collected_at": snapshot.collected_at,
        "frameworks": frameworks,
        "status": outcome.status,
        "risk_score": result.get("risk_score"),
        "started": started,
        "finished": _now(),
    }
    if rules is not None:
        meta["mutelist"] = {"file": Path(options.mutelist).name, "rules": len(rules)}
    if options.format == "json":
        text = reports.to_json(meta, result, findings)
    elif options.format == "csv":
        text = reports.to_csv(findings)
    else:
        text = reports.to_sarif(meta, findings, CHECKS)
    _write(text, options.output, stdout)
    if options.fail_on:
        worst = SEVERITIES.index(options.fail_on)
        failing = sum(
            SEVERITIES.index(f["severity"]) <= worst
            for f in findings
            if f.get("severity") in SEVERITIES and not f.get("suppressed")
        )
        if failing:
            stderr.write(f"audit: {failing} finding(s) at or above {options.fail_on}\n")
            return 1
    return 0


def _proves_by_default(snapshot) -> bool:
    """Fixes are proven, as in the worker, for accounts up to AEGIS_VERIFY_FIXES_MAX_PRINCIPALS users and roles (read
    from the environment: this command runs without Django's settings)."""
    from django.core.exceptions import ImproperlyConfigured

    from aegis_site.env import envint
    from audits.iam.fix_plan import VERIFY_MAX_PRINCIPALS, proves_fixes

    try:
        limit = envint("AEGIS_VERIFY_FIXES_MAX_PRINCIPALS", VERIFY_MAX_PRINCIPALS)  # the settings' own reader
    except ImproperlyConfigured as exc:
        raise InputError(str(exc)) from None
    return proves_fixes(snapshot, limit)


def _mutelist(path: str, stderr: TextIO) -> list:
    """The file's unexpired rules, each named after its place in the file ("rule Accounts.*.Checks.*[0]: <reason>");
    an expired one is skipped with a warning, as the portal skips it; a file with any bad rule is refused whole."""
    from audits import mutelist

    try:
        with open(path, "rb") as fh:
            data = fh.read(mutelist.MAX_YAML_BYTES + 1)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        drafts = mutelist.from_yaml(data, allow_expired=True)
    except mutelist.MutelistError as exc:
        raise InputError(f"{Path(path).name}: " + "; ".join(exc.problems[:10])) from None
    now = datetime.now(UTC)
    for draft in drafts:
        if draft.expires is not None and draft.expires <= now:
            stderr.write(f"warning: {draft.place} expired on {draft.expires:%Y-%m-%d}; it mutes nothing\n")
    return [
        draft.rule(f"rule {draft.place}: {draft.reason}") for draft in drafts if draft.expires and draft.expires > now
    ]


def _frameworks(text: str, known: dict) -> list[str]:
    chosen = [part.strip() for part in text.split(",") if part.strip()]
    if chosen == ["all"]:
        return list(known)
    unknown = [f for f in chosen if f not in known]
    if unknown:
        raise InputError(f"unknown framework {', '.join(unknown)}; choose from {', '.join(known)}")
    return list(dict.fromkeys(chosen))


def _snapshot(options: argparse.Namespace, stderr: TextIO) -> tuple[Any, str]:
    from audits.iam.snapshot import MAX_SNAPSHOT_BYTES, SnapshotError, load_demo_snapshot, load_snapshot

    if options.demo:
        return load_demo_snapshot(), "demo"
    if options.live:
        from audits.iam.collect import CollectionError, collect_snapshot, session_for

        try:
            session = session_for(options.role_arn, options.external_id, region=options.region)
            return collect_snapshot(session, lambda message: stderr.write(f"warning: {message}\n")), "live"
        except CollectionError as exc:
            raise InputError(str(exc)) from None
    if options.snapshot == "-":  # `aws iam get-account-authorization-details | manage.py audit --snapshot -`
        data = sys.stdin.buffer.read(MAX_SNAPSHOT_BYTES + 1)  # one byte over is enough to refuse it
        try:
            return load_snapshot(data), "stdin"
        except SnapshotError as exc:
            raise InputError(f"stdin: {exc}") from None
    path = Path(options.snapshot)
    try:
        size = path.stat().st_size
        if size > MAX_SNAPSHOT_BYTES:  # refuse before reading it into memory
            raise InputError(
                f"{path.name}: Snapshot is {size / 1024 / 1024:.1f} MB; the limit is "
                f"{MAX_SNAPSHOT_BYTES // 1024 // 1024} MB"
            )
        data = path.read_bytes()
    except OSError as exc:
        raise InputError(f"cannot read {options.snapshot}: {exc.strerror or exc}") from None
    try:
        return load_snapshot(data), path.name
    except SnapshotError as exc:
        raise InputError(f"{path.name}: {exc}") from None


def _write(text: str, output: str | None, stdout: TextIO) -> None:
    if not output or output == "-":
        stdout.write(text)
        stdout.flush()
        return
    try:
        with open(output, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
    except OSError as exc:
        raise InputError(f"cannot write {output}: {exc.strerror or exc}") from None


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


class Progress:
    """A one-line bar when stderr is a terminal; otherwise plain lines for the events a log wants."""

    def __init__(self, stream: TextIO, *, enabled: bool = True) -> None:
        self.stream, self.enabled = stream, enabled
        self.tty = enabled and hasattr(stream, "isatty") and stream.isatty()
        self.percent = 0

    def show(self, kind: str, message: str, percent: int | None) -> None:
        if not self.enabled:
            return
        self.percent = percent if percent is not None else self.percent
        if self.tty:
            width = shutil.get_terminal_size((80, 20)).columns
            filled = self.percent * 20 // 100
            line = f"[{'#' * filled}{'.' * (20 - filled)}] {self.percent:3d}% {message}"
            self.stream.write("\r" + line[: width - 1].ljust(width - 1))
            if kind in ("warning", "error"):
                self.stream.write("\n")
        elif kind not in QUIET_TYPES:
            self.stream.write(f"{self.percent:3d}% {kind}: {message}\n")
        self.stream.flush()

    def done(self) -> None:
        if self.tty:
            self.stream.write("\n")
            self.stream.flush()


def __getattr__(name: str) -> Any:
    # Django asks for `Command` only when it runs the command; building it here keeps importing `main` free of
    # django.core.management (~0.12 s), for a start-up path that skips django.setup().
    if name == "Command":
        globals()["Command"] = command = _command_class()
        return command
    raise AttributeError(name)


def _command_class() -> type:
    from django.core.management.base import BaseCommand, CommandError

    class Command(BaseCommand):
        help = __doc__.split("\n")[0]
        requires_system_checks: list[str] = []  # the engine uses no database or app; checks would only cost time

        def add_arguments(self, parser: argparse.ArgumentParser) -> None:
            add_arguments(parser)

        def handle(self, *args: Any, **options: Any) -> None:
            # The raw streams: Django's OutputWrapper would end the progress bar's "\r" updates with newlines.
            out, err = getattr(self.stdout, "_out", sys.stdout), getattr(self.stderr, "_out", sys.stderr)
            code = run(argparse.Namespace(**options), stdout=out, stderr=err)
            if code and getattr(self, "_called_from_command_line", False):
                raise SystemExit(code)
            if code:
                raise CommandError(f"audit exited with status {code}", returncode=code)

    return Command
