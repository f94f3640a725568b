"""json.dumps(value, indent=...) at the speed of the C encoder's pieces.

The standard library writes indented JSON with its pure-Python encoder (the C one only does compact output), and
every finding's fix carries one or two indented policy documents: this writer walks the value once, quoting
strings with the C quoter, and gives byte-for-byte the same text.
"""

from __future__ import annotations

import json
from json.encoder import encode_basestring_ascii as _quote
from typing import Any


def dumps_indented(value: Any, step: int = 2, margin: int = 0) -> str:
    """json.dumps(value, indent=step), every line after the first shifted right by `margin` spaces."""
    out: list[str] = []
    _write(value, out, "\n" + " " * margin, " " * step)
    return "".join(out)


def _write(value: Any, out: list[str], newline: str, step: str) -> None:
    kind = type(value)
    if kind is str:
        out.append(_quote(value))
    elif value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif kind is int:
        out.append(int.__repr__(value))
    elif kind is dict and all(type(k) is str for k in value):
        if not value:
            out.append("{}")
            return
        inner = newline + step
        separator = "{" + inner
        for key, item in value.items():
            out.append(separator)
            out.append(_quote(key))
            out.append(": ")
            _write(item, out, inner, step)
            separator = "," + inner
        out.append(newline + "}")
    elif kind is list or kind is tuple:
        if not value:
            out.append("[]")
            return
        inner = newline + step
        separator = "[" + inner
        for item in value:
            out.append(separator)
            _write(item, out, inner, step)
            separator = "," + inner
        out.append(newline + "]")
    else:
        # Floats, non-string keys, subclasses and the unencodable: the standard encoder's own rules (and errors).
        out.append(json.dumps(value, indent=len(step)).replace("\n", newline))
