"""The run page's timeline: a window of stored events, newest last, with findings under their principal.

A run can hold 100,000 events; the page renders only the tail (TAIL events) and older windows are fetched
on demand ("load earlier", keyed by seq). The engine emits a principal's findings before its "Analyzing X"
checkpoint; the display puts them after that line, so each principal reads as one group.

Filters and search run here, over every stored event of the run, newest first and a window at a time, with the
number of matches; the counters are taken up to the same seq as the rows they sit beside, so the stream (which
continues after that seq) never adds a finding twice.
"""

from dataclasses import dataclass, field

from django.db.models import Count, Q, QuerySet

from audits.iam.events import TIMELINE_FILTERS
from audits.models import SEVERITIES, AuditEvent, AuditRun, format_ts

TAIL = 200
GROUP_SLACK = 100
EVENT_FILTERS = tuple(kind for kind, _ in TIMELINE_FILTERS)


@dataclass
class Window:
    rows: list[dict]
    earlier: int | None  # seq to page before, or None when the window reaches the first event
    last_seq: int = 0
    filters: dict = field(default_factory=dict)
    total: int | None = None  # events matching the filters up to `upto` (on the first page of a search)


def clean_filters(params) -> dict:
    """The timeline filters from a query string; unknown values are ignored, never an error."""
    kind = params.get("type") or ""
    severity = params.get("sev") or ""
    q = (params.get("search") or "").strip()[:200]
    return {
        "type": kind if kind in EVENT_FILTERS else "",
        "sev": severity if severity in SEVERITIES else "",
        "q": q,
    }


def _filtered(events: QuerySet, filters: dict) -> QuerySet:
    if filters.get("type"):
        events = events.filter(type=filters["type"])
    if filters.get("sev"):
        # The severity column is copied at write time; older rows only have it in the payload.
        events = events.filter(type="finding").filter(
            Q(severity=filters["sev"]) | Q(severity="", payload__finding__severity=filters["sev"])
        )
    if filters.get("q"):
        events = events.filter(message__icontains=filters["q"])
    return events


def is_filtering(filters: dict) -> bool:
    return any(filters.values())


def window(
    run: AuditRun,
    *,
    before: int | None = None,
    filters: dict | None = None,
    size: int = TAIL,
    upto: int | None = None,
) -> Window:
    """The newest `size` events before seq `before` (and at or below seq `upto`, what the viewer has seen)."""
    filters = filters or {}
    events = _filtered(AuditEvent.objects.filter(run=run), filters)
    if upto is not None:
        events = events.filter(seq__lte=upto)
    # The number of matches heads the first page of a search; older pages only add rows.
    total = events.count() if is_filtering(filters) and before is None else None
    if before is not None:
        events = events.filter(seq__lt=before)
    # A few rows past the window: whether there is more, and where a principal's group would be cut.
    limit = size + GROUP_SLACK
    fetched = list(events.order_by("-seq").values_list("seq", "type", "message", "progress", "created")[:limit])
    fetched.reverse()
    start = max(0, len(fetched) - size)
    if not is_filtering(filters):
        # Never end the older window inside a run of findings: their "Analyzing X" line is in this one.
        while start > 0 and fetched[start - 1][1] == "finding":
            start -= 1
    more = start > 0 or len(fetched) == limit
    picked = fetched[start:]
    seqs = [row[0] for row in picked if row[1] in ("finding", "principal")]
    extra = _principals_and_severities(run, seqs)
    rows = []
    for seq, type_, message, progress, created in picked:
        principal, severity = extra.get(seq, ("", ""))
        rows.append(
            {
                "seq": seq,
                "type": type_,
                "message": message,
                "progress": progress,
                "iso": format_ts(created),
                "clock": format_ts(created)[11:19],
                "severity": severity,
                "principal": principal,
            }
        )
    last_seq = rows[-1]["seq"] if rows else 0
    # A filtered window is a flat list of matches: there is no group to keep together.
    shown = rows if is_filtering(filters) else group(rows, finished=run.is_finished)
    return Window(shown, rows[0]["seq"] if more and rows else None, last_seq, filters, total)


def severity_counts(run: AuditRun, *, through: int | None = None) -> dict[str, int]:
    """Findings by severity, as the score counts them (accepted risks left out), up to and including seq `through`.

    The run page passes the last seq it rendered: a finding stored after that arrives by the stream, which counts
    it then. Findings without a seq (stored outside the event log) always count."""
    findings = run.findings.filter(suppressed=False)
    if through is not None:
        findings = findings.filter(Q(seq__lte=through) | Q(seq__isnull=True))
    counts = dict(findings.values_list("severity").annotate(n=Count("pk")).order_by())
    return {sev: counts.get(sev, 0) for sev in SEVERITIES}


def _principals_and_severities(run: AuditRun, seqs: list[int]) -> dict[int, tuple[str, str]]:
    """seq -> (principal ARN, severity) for the window's finding and principal rows only."""
    found = {}
    rows = AuditEvent.objects.filter(run=run, seq__in=seqs).values_list(
        "seq", "type", "principal_arn", "severity", "payload"
    )
    for seq, type_, arn, severity, payload in rows:
        payload = payload or {}
        if type_ == "finding":
            finding = payload.get("finding") or {}
            severity = severity or str(finding.get("severity") or "")
            found[seq] = (arn or str(finding.get("principal_arn") or ""), severity)
        else:
            principal = payload.get("principal") or {}
            found[seq] = (arn or str(principal.get("arn") or "") if isinstance(principal, dict) else arn, "")
    return found


def group(rows: list[dict], *, finished: bool = False) -> list[dict]:
    """Move each run of findings after the principal line they belong to (same ARN).

    Findings still waiting for their principal (the one being analysed right now) get a placeholder head,
    which the live script fills in when the principal's line arrives."""
    out: list[dict] = []
    pending: list[dict] = []

    def flush_pending() -> None:
        if pending:
            out.append(_placeholder(pending[0], finished))
            out.extend(pending)
            pending.clear()

    for row in rows:
        if row["type"] == "finding":
            if pending and pending[0]["principal"] != row["principal"]:
                flush_pending()
            pending.append(row)
            continue
        if row["type"] == "principal" and pending and pending[0]["principal"] == row["principal"]:
            out.append(row)
            out.extend(pending)
            pending.clear()
            continue
        flush_pending()
        out.append(row)
    flush_pending()
    return out


def _placeholder(finding: dict, finished: bool) -> dict:
    arn = finding["principal"]
    name = arn.rsplit("/", 1)[-1] if arn else "the account"
    # A finished run will never send the principal's line: name the principal instead of promising it.
    message = f"Findings for {name}" if finished else f"Analyzing {name}…"
    return {
        "seq": "",
        "type": "principal",
        "message": message,
        "progress": finding["progress"],
        "iso": finding["iso"],
        "clock": "",
        "severity": "",
        "principal": arn,
        "pending": True,
    }
