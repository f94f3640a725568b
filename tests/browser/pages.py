"""Runs for the portal's browser tests: a real demo audit run in-process, and runs in each end state."""

from django.utils import timezone

from audits.models import AuditRun
from audits.runs import worker
from audits.runs.recorder import Recorder
from tests.helpers import make_run

DESKTOP = {"width": 1440, "height": 900}
PHONE = {"width": 390, "height": 844}
SIZES = {"desktop": DESKTOP, "phone": PHONE}


def demo_run(owner, frameworks=("cis", "pci_dss")) -> AuditRun:
    """The demo account audited by the real engine in this process (no pacing), completed."""
    run = make_run(owner, status=AuditRun.Status.QUEUED, frameworks=list(frameworks))
    assert worker.execute(run.pk) == "completed"
    run.refresh_from_db()
    return run


def ended_run(owner, status: str, **fields) -> AuditRun:
    """A run that stopped part-way in `status`, with a few events and findings of its own."""
    run = make_run(
        owner,
        status=AuditRun.Status.RUNNING,
        account_id="111122223333",
        started=timezone.now(),
        frameworks=["cis"],
        **fields,
    )
    recorder = Recorder(run.pk)
    recorder.emit("start", "Audit started - Initializing agent...", 1)
    recorder.emit(
        "principal",
        "Analyzing user 'alice' (1/40)... no issues",
        30,
        {"principal": {"type": "user", "name": "alice", "arn": "arn:aws:iam::111122223333:user/alice"}},
    )
    last: tuple[str, str] | None = {
        "failed": ("error", "AWS refused ListRoles: AccessDenied"),
        "cancelled": ("cancelled", "Cancelled after 1/40 principals"),
    }.get(status)
    if last:
        recorder.emit(last[0], last[1], None)
    AuditRun.objects.filter(pk=run.pk).update(
        status=status,
        error=last[1] if last and status == "failed" else "",
        finished=timezone.now() if status in ("failed", "cancelled") else None,
    )
    run.refresh_from_db()
    return run


def overflow_x(page) -> int:
    """How many pixels the page is wider than the viewport (0 when nothing sticks out)."""
    return page.evaluate("() => document.documentElement.scrollWidth - window.innerWidth")


def wide_elements(page) -> list[str]:
    """The elements sticking out to the right, for the failure message."""
    return page.evaluate("""() => [...document.querySelectorAll('body *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 0.5
                     || (e.scrollWidth > e.clientWidth + 1 && getComputedStyle(e).overflowX === 'visible'
                         && e.clientWidth > 0))
        .slice(0, 8).map(e => e.tagName + '.' + e.className + ' ' + Math.round(e.getBoundingClientRect().right)
                         + '/' + e.scrollWidth + '/' + e.clientWidth)""")


def in_view(page, selector: str) -> bool:
    """The element's box lies inside the viewport horizontally and is not clipped by an ancestor."""
    return page.eval_on_selector(
        selector,
        """el => {
        const box = el.getBoundingClientRect();
        if (box.width === 0 || box.left < 0 || box.right > window.innerWidth + 0.5) return false;
        for (let p = el.parentElement; p; p = p.parentElement) {
            const s = getComputedStyle(p);
            if (s.overflowX !== 'visible') {
                const clip = p.getBoundingClientRect();
                if (box.right > clip.right + 0.5 || box.left < clip.left - 0.5) return false;
            }
        }
        return true;
    }""",
    )
