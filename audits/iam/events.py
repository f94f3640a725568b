"""The kinds of event a run reports, declared once: the engine emits them, the recorder stores only these, the
timeline offers its type filter from them, and the run page's script learns from them which events end a run.

`label` names the kind to people (the admin, and the timeline's type filter when `filtered`); `ends_as` is the run
status an event of this kind ends a run with ("" when it does not end one).
"""

from dataclasses import dataclass


@dataclass(frozen=True)
class EventKind:
    kind: str
    label: str
    filtered: bool = False
    ends_as: str = ""


# In the order the timeline's type filter lists them.
EVENT_KINDS = (
    EventKind("start", "Start"),
    EventKind("principal", "Principals", filtered=True),  # a checkpoint, after that principal's findings
    EventKind("finding", "Findings", filtered=True),
    EventKind("thinking", "Reasoning", filtered=True),
    EventKind("progress", "Progress", filtered=True),
    EventKind("stats", "Counts", filtered=True),
    EventKind("warning", "Warnings", filtered=True),
    EventKind("paused", "Paused"),
    EventKind("resumed", "Resumed"),
    EventKind("complete", "Complete", ends_as="completed"),
    EventKind("error", "Error", ends_as="failed"),
    EventKind("cancelled", "Cancelled", ends_as="cancelled"),
)

EVENT_TYPES = tuple(e.kind for e in EVENT_KINDS)
EVENT_CHOICES = tuple((e.kind, e.label) for e in EVENT_KINDS)
# (kind, label) for the timeline's type filter.
TIMELINE_FILTERS = tuple((e.kind, e.label) for e in EVENT_KINDS if e.filtered)
# kind -> the run status it ends the run with, for the run and organization pages' scripts.
ENDING = {e.kind: e.ends_as for e in EVENT_KINDS if e.ends_as}
