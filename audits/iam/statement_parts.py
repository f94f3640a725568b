"""Equal statements compiled once per audit, each copy placed where it sits in its own document.

Accounts hold thousands of distinct documents assembled from a few dozen copied statements. The evaluator's
compile_policy keeps a `parts` dict per audit: a statement's content compiles once, and every copy shares the
compiled parts (and their memos), differing only in its policy and position.
"""

from __future__ import annotations

from collections.abc import Callable


def placed[T](parts: dict, key: object, compile_: Callable[[], T | None], **where: object) -> T | None:
    """compile_() once per key (None: not a statement), copied with `where` set over the shared fields.

    A copy of the instance dict, not dataclasses.replace, which would run __init__ for every statement."""
    if key not in parts:
        parts[key] = compile_()
    shared = parts[key]
    if shared is None:
        return None
    copy = object.__new__(type(shared))
    copy.__dict__.update(shared.__dict__)
    copy.__dict__.update(where)
    return copy
