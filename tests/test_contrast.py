"""WCAG 2.x AA: every rule of the stylesheet that sets both a text colour and a background (chips, pills, badges,
banners) has a contrast ratio of at least 4.5:1."""

import re

from tests.helpers import ROOT

CSS = (ROOT / "static" / "audits" / "aegis.css").read_text()
RULE = re.compile(r"([^{}]+)\{([^{}]*)\}")
HEX = re.compile(r"#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})\b")


def variables() -> dict[str, str]:
    found = re.search(r":root\s*\{([^}]*)\}", CSS)
    assert found is not None, "the stylesheet has a :root block"
    root = found.group(1)
    return {name: value.strip() for name, value in re.findall(r"(--[\w-]+)\s*:\s*([^;]+);", root)}


def resolve(value: str, names: dict[str, str]) -> str | None:
    value = value.strip()
    found = re.fullmatch(r"var\((--[\w-]+)\)", value)
    if found:
        value = names.get(found.group(1), "")
    match = HEX.fullmatch(value.strip())
    return match.group(1) if match else None


def luminance(hex_colour: str) -> float:
    if len(hex_colour) == 3:
        hex_colour = "".join(c * 2 for c in hex_colour)
    channels = [int(hex_colour[i : i + 2], 16) / 255 for i in (0, 2, 4)]
    linear = [c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4 for c in channels]
    return 0.2126 * linear[0] + 0.7152 * linear[1] + 0.0722 * linear[2]


def contrast(a: str, b: str) -> float:
    high, low = sorted((luminance(a), luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


def coloured_rules() -> list[tuple[str, str, str]]:
    names = variables()
    out = []
    for selector, body in RULE.findall(CSS):
        props = dict(re.findall(r"(?:^|;)\s*(background|color)\s*:\s*([^;]+)", body))
        if "background" in props and "color" in props:
            background, colour = resolve(props["background"], names), resolve(props["color"], names)
            if background and colour:
                out.append((" ".join(selector.split()), colour, background))
    return out


def test_it_finds_the_chips_and_pills():
    selectors = " ".join(s for s, _, _ in coloured_rules())
    for expected in (".status-failed", ".pill.pass", ".badge.sev-high", ".sev-bar .sev-low a"):
        assert expected in selectors


def test_every_coloured_chip_meets_wcag_aa():
    weak = [f"{s}: {contrast(c, b):.2f}:1 (#{c} on #{b})" for s, c, b in coloured_rules() if contrast(c, b) < 4.5]
    assert not weak, "under 4.5:1 — " + "; ".join(weak)


def test_the_focus_ring_stands_out_from_every_surface_it_is_drawn_on():
    # WCAG 2.x 1.4.11 (non-text contrast): a focus indicator needs 3:1 against the colours around it.
    names = variables()
    rings = re.findall(r":focus(?:-visible)?\s*\{[^}]*outline:\s*\d+px\s+solid\s+#([0-9a-fA-F]{6})", CSS)
    assert rings, "no focus outline colour found"
    surfaces = {name: resolve(f"var({name})", names) for name in ("--bg", "--card", "--accent-soft", "--line-soft")}
    weak = [
        f"#{ring} on {name}: {contrast(ring, hex_):.2f}:1"
        for ring in rings
        for name, hex_ in surfaces.items()
        if contrast(ring, hex_) < 3
    ]
    assert not weak, "under 3:1 — " + "; ".join(weak)
