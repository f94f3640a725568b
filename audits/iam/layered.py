"""Layered caches: the analysis after a change reads what the one before knew, except where the change may have
made it stale, and writes only its own layer (audits.iam.incremental)."""

from __future__ import annotations

from collections.abc import Callable, Hashable
from typing import Any

_MISSING = object()


class Layer(dict):
    """A cache dict over a base cache: reads fall through to `base` unless `hidden(key)`; writes stay here."""

    def __init__(self, base: dict, hidden: Callable[[Any], bool] | None = None) -> None:
        super().__init__()
        self.base = base
        self.hidden = hidden

    def get(self, key: Hashable, default: Any = None) -> Any:
        found = dict.get(self, key, _MISSING)
        if found is not _MISSING:
            return found
        if self.hidden is not None and self.hidden(key):
            return default
        return self.base.get(key, default)

    def __missing__(self, key: Hashable) -> Any:
        if self.hidden is not None and self.hidden(key):
            raise KeyError(key)
        return self.base[key]

    def __contains__(self, key: object) -> bool:
        if dict.__contains__(self, key):
            return True
        return not (self.hidden is not None and self.hidden(key)) and key in self.base
