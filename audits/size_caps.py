"""Size caps for what one event or finding stores, whatever the input.

A 40 MB policy statement must not become an 84 MB event: a value over its byte budget is trimmed by cutting its
biggest parts first (long lists, long strings, the statement documents inside evidence), and what was cut says so.
Sizes are counted as the database stores JSON (json.dumps defaults, ASCII escapes) and only up to just past the
budget, so measuring a value that shares one huge statement a thousand times still costs at most the budget.
"""

from json.encoder import encode_basestring_ascii as _quoted
from typing import Any

TRUNCATED_NOTE = "Cut to fit the size cap; the full detail is in the run's stored input."
TEXT_MARK = "... (truncated)"
OMITTED_KEY = "(truncated)"
# A part given less room than this is replaced by a short marker rather than trimmed to nothing useful.
MIN_PART = 48
_ITEM_SEP = 2  # ", " between items and ": " after a key, as json.dumps writes them


def json_size(value: Any, limit: int) -> int:
    """The length of json.dumps(value), or any number above limit once the count passes it."""
    total = 0
    stack = [value]
    while stack:
        node = stack.pop()
        if isinstance(node, str):
            total += len(node) + 2 if len(node) > limit else len(_quoted(node))
        elif isinstance(node, dict):
            total += 2 + max(0, len(node) - 1) * _ITEM_SEP
            for key, item in node.items():
                total += _key_size(key, limit) + _ITEM_SEP
                stack.append(item)
                if total > limit:
                    return total
        elif isinstance(node, list | tuple):
            total += 2 + max(0, len(node) - 1) * _ITEM_SEP
            if total > limit:
                return total
            stack.extend(node)
        else:
            total += _scalar_size(node)
        if total > limit:
            return total
    return total


def cap(value: Any, budget: int) -> tuple[Any, bool]:
    """(value, False) when it fits budget bytes, else (a trimmed copy that fits, True). Never mutates value."""
    if json_size(value, budget) <= budget:
        return value, False
    return _shrink(value, budget), True


def cap_text(text: str, max_chars: int) -> str:
    if len(text) <= max_chars:
        return text
    return text[: max(0, max_chars - len(TEXT_MARK))] + TEXT_MARK


def _key_size(key: Any, limit: int) -> int:
    text = key if isinstance(key, str) else str(key)
    return len(text) + 2 if len(text) > limit else len(_quoted(text))


def _scalar_size(node: Any) -> int:
    if node is None or node is True:
        return 4
    if node is False:
        return 5
    if isinstance(node, int | float):
        return len(repr(node))
    return len(str(node)) + 2


def _shrink(value: Any, budget: int) -> Any:
    if isinstance(value, str):
        return _shrink_text(value, budget)
    if isinstance(value, dict):
        return _shrink_dict(value, budget)
    if isinstance(value, list | tuple):
        return _shrink_list(value, budget)
    return value if _scalar_size(value) <= budget else None


def _shrink_text(text: str, budget: int) -> str:
    room = budget - 2 - len(TEXT_MARK)
    if room <= 0:
        return "..."[: max(0, budget - 2)]
    cut = text[:room]
    # Escapes (quotes, control characters, non-ASCII as \\uXXXX) make the stored text longer than the characters.
    while cut and len(_quoted(cut)) > room:
        cut = cut[: len(cut) - max(1, (len(_quoted(cut)) - room + 5) // 6)]
    return cut + TEXT_MARK


def _omitted(count: int) -> str:
    return f"{count} more not shown (truncated)"


def _shrink_list(items: list | tuple, budget: int) -> list:
    kept: list = []
    used = 2
    reserve = len(_omitted(len(items))) + 2 + _ITEM_SEP
    for index, item in enumerate(items):
        sep = _ITEM_SEP if kept else 0
        last = index == len(items) - 1
        room = budget - used - sep - (0 if last else reserve)
        size = json_size(item, room)
        if size <= room:
            kept.append(item)
            used += sep + size
            continue
        if room >= MIN_PART:
            part = _shrink(item, room)
            kept.append(part)
            used += sep + json_size(part, room)
        break
    if len(kept) < len(items):
        kept.append(_omitted(len(items) - len(kept)))
    return kept


def _shrink_dict(mapping: dict, budget: int) -> dict:
    """Small values stay whole; the big ones share what room is left equally (max-min fair)."""
    keys: list = []
    overhead = 2
    for key in mapping:
        # Each kept key reserves room for at least a "..." value.
        cost = _key_size(key, budget) + 2 * _ITEM_SEP + len(_quoted("..."))
        if overhead + cost + MIN_PART > budget // 2:
            break
        keys.append(key)
        overhead += cost
    dropped = len(mapping) - len(keys)
    if dropped:
        overhead += len(_quoted(OMITTED_KEY)) + len(_quoted(_omitted(dropped))) + 2 * _ITEM_SEP
    room = budget - overhead + len(keys) * len(_quoted("..."))
    sizes = {key: json_size(mapping[key], room) for key in keys}
    whole: set = set()
    left, ordered = room, sorted(keys, key=lambda k: sizes[k])
    for position, key in enumerate(ordered):
        if sizes[key] > left // (len(ordered) - position):
            break
        whole.add(key)
        left -= sizes[key]
    waiting = len(keys) - len(whole)
    share = left // waiting if waiting else 0
    out: dict = {}
    for key in keys:
        if key in whole:
            out[key] = mapping[key]
        elif share >= MIN_PART:
            out[key] = _shrink(mapping[key], share)
        else:
            out[key] = "..."
    if dropped:
        out[OMITTED_KEY] = _omitted(dropped)
    return out


# The fields that say what a finding is: never trimmed (only a hostile, overlong one is cut to IDENTITY_CHARS).
FINDING_IDENTITY = frozenset(
    {"check_id", "category", "severity", "principal_arn", "principal_type", "principal_name", "policy", "title",
     "fingerprint", "suppressed", "conditioned"}
)  # fmt: skip
IDENTITY_CHARS = 1024
_MARKER_ROOM = 160  # "truncated": true and the note, added to the evidence after trimming


def cap_finding(finding: dict, budget: int) -> dict:
    """The finding whole when it fits budget bytes; else its identity whole and the rest (evidence, detail, fix, ...)
    trimmed, the evidence marked {"truncated": true, "truncated_note": ...} so the page and exports say so."""
    if json_size(finding, budget) <= budget:
        return finding
    identity = {k: cap_text(v, IDENTITY_CHARS) if isinstance(v, str) else v
                for k, v in finding.items() if k in FINDING_IDENTITY}  # fmt: skip
    rest = {k: v for k, v in finding.items() if k not in FINDING_IDENTITY}
    room = max(budget - json_size(identity, budget) - _MARKER_ROOM, 8 * MIN_PART)
    trimmed, _ = cap(rest, room)
    evidence = trimmed.get("evidence", {})
    if not isinstance(evidence, dict):
        evidence = {"value": evidence}
    trimmed["evidence"] = {**evidence, "truncated": True, "truncated_note": TRUNCATED_NOTE}
    return {key: identity[key] if key in identity else trimmed[key] for key in (*finding, "evidence")} | {
        "truncated": True
    }


def cap_strings(value: Any, max_chars: int) -> Any:
    """value with every string longer than max_chars cut (marked); containers are copied only where one was."""
    if isinstance(value, str):
        return cap_text(value, max_chars)
    if isinstance(value, dict):
        changed = {k: cap_strings(v, max_chars) for k, v in value.items()}
        return value if all(changed[k] is value[k] for k in value) else changed
    if isinstance(value, list):
        items = [cap_strings(v, max_chars) for v in value]
        return value if all(a is b for a, b in zip(items, value, strict=True)) else items
    return value
