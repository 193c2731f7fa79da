"""Charts drawn on the server as inline SVG: no script, no library, readable without CSS.

Every chart is decoration for sighted readers: the page puts a table of the same figures next
to it, and the SVG carries a title for screen readers (role="img"). Text is escaped by
markupsafe, as Jinja escapes it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime

from markupsafe import Markup, escape

# Tile positions (column, row) of the 20 units, roughly where they lie on the map: west at
# the left, north at the top. Units not listed go on a row of their own below.
TILES: dict[str, tuple[int, int]] = {
    "KUS": (2, 0), "SKO": (3, 0), "PAV": (5, 0),
    "ZKO": (0, 1), "AKT": (1, 1), "AKM": (3, 1), "AST": (4, 1), "VKO": (6, 1),
    "ATY": (0, 2), "ULY": (2, 2), "KAR": (3, 2), "ABA": (5, 2),
    "MAN": (0, 3), "KZY": (1, 3), "TUR": (2, 3), "ZHA": (3, 3), "ALM": (4, 3), "ZHT": (5, 3),
    "SHY": (2, 4), "ALA": (4, 4),
}  # fmt: skip


@dataclass(frozen=True)
class Series:
    label: str
    points: Sequence[tuple[datetime, float]]  # (signed time, percent)
    strong: bool = False


def _num(value: float) -> str:
    return f"{value:.1f}".rstrip("0").rstrip(".")


def turnout_chart(
    title: str, series: Sequence[Series], time_label: Callable[[datetime], str]
) -> Markup:
    """Turnout (0-100 %) against signed time, one line per series; the 50% (quorum) line."""
    width, height, left, right, top, bottom = 640, 260, 44, 12, 12, 30
    plot_w, plot_h = width - left - right, height - top - bottom
    times = [t for s in series for t, _ in s.points]
    parts = [
        f'<svg class="chart" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for pct in (0, 25, 50, 75, 100):
        y: float = top + plot_h * (1 - pct / 100)
        cls = "grid quorum" if pct == 50 else "grid"
        parts.append(
            f'<line class="{cls}" x1="{left}" x2="{width - right}" y1="{_num(y)}" y2="{_num(y)}"/>'
        )
        parts.append(
            f'<text class="axis" x="{left - 6}" y="{_num(y + 4)}" text-anchor="end">{pct}%</text>'
        )
    if times:
        start, end = min(times), max(times)
        span = (end - start).total_seconds() or 1.0

        def x_of(t: datetime) -> float:
            return left + plot_w * (t - start).total_seconds() / span

        for anchor, t in (("start", start), ("end", end)):
            x: float = left if anchor == "start" else width - right
            parts.append(
                f'<text class="axis" x="{x}" y="{height - 8}" '
                f'text-anchor="{anchor}">{escape(time_label(t))}</text>'
            )
        for s in sorted(series, key=lambda s: s.strong):
            if not s.points:
                continue
            coords = []
            previous: float | None = None
            for t, share in sorted(s.points):
                x, y = x_of(t), top + plot_h * (1 - min(share, 100.0) / 100)
                if previous is not None:  # a step: turnout holds until the next checkpoint
                    coords.append(f"{_num(x)},{_num(previous)}")
                coords.append(f"{_num(x)},{_num(y)}")
                previous = y
            cls = "line strong" if s.strong else "line"
            parts.append(
                f'<polyline class="{cls}" points="{" ".join(coords)}">'
                f"<title>{escape(s.label)}</title></polyline>"
            )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Bar:
    label: str
    value_text: str  # e.g. "63 (70.00%)"
    share: float  # percent of those who took part
    kind: str  # "winner", "runoff", "candidate", "blank"


def share_chart(title: str, bars: Sequence[Bar], threshold_label: str) -> Markup:
    """Horizontal bars of each candidate's share, with the 50% threshold line."""
    row, left, right, top = 34, 170, 150, 22
    width = 640
    plot_w = width - left - right
    height = top + row * len(bars) + 8
    parts = [
        f'<svg class="chart bars" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg">',
        f"<title>{escape(title)}</title>",
    ]
    for i, bar in enumerate(bars):
        y = top + i * row
        w = plot_w * max(0.0, min(bar.share, 100.0)) / 100
        parts.append(
            f'<text class="label" x="{left - 8}" y="{y + 19}" '
            f'text-anchor="end">{escape(bar.label[:28])}</text>'
        )
        parts.append(
            f'<rect class="bar {bar.kind}" x="{left}" y="{y + 4}" width="{_num(w)}" '
            f'height="{row - 10}"/>'
        )
        parts.append(
            f'<text class="value" x="{_num(left + w + 6)}" y="{y + 19}">'
            f"{escape(bar.value_text)}</text>"
        )
    x50 = left + plot_w / 2
    parts.append(
        f'<line class="threshold" x1="{_num(x50)}" x2="{_num(x50)}" y1="{top - 4}" '
        f'y2="{height - 4}"/>'
    )
    parts.append(
        f'<text class="axis" x="{_num(x50)}" y="{top - 8}" text-anchor="middle">'
        f"{escape(threshold_label)}</text>"
    )
    parts.append("</svg>")
    return Markup("".join(parts))


@dataclass(frozen=True)
class Tile:
    code: str
    name: str
    href: str
    line: str  # e.g. "91.7%"
    level: int  # 0 (no turnout) .. 4 (full), for the fill
    quorum: bool


# words a unit's name shares with every other of its kind: left off the tiles, which are small
_GENERIC_WORDS = {"region", "city", "облысы", "қаласы", "область", "город", "облысы,", "of"}


def short_name(name: str) -> list[str]:
    """A unit's name for its tile: without "Region"/"облысы"/"область", in at most two lines."""
    words = [w for w in name.split() if w.lower() not in _GENERIC_WORDS] or name.split()
    text = " ".join(words)
    if len(text) <= 12:
        return [text]
    cut = max(text.rfind(" ", 0, 13), text.rfind("-", 0, 13))
    if cut <= 0:
        return [text[:11] + "…"]
    first, rest = text[: cut + (1 if text[cut] == "-" else 0)], text[cut + 1 :]
    return [first.strip(), rest if len(rest) <= 12 else rest[:11] + "…"]


def tile_map(title: str, tiles: Sequence[Tile]) -> Markup:
    """A schematic map: one square per unit, placed roughly where it lies; an election with
    only some of the 2023 units gets a compact grid instead (no wide empty map)."""
    size, gap = 84, 6
    placed = [t for t in tiles if t.code in TILES]
    if len(placed) * 2 >= len(TILES):
        extra = [t for t in tiles if t.code not in TILES]
        positions = {t.code: TILES[t.code] for t in placed}
        rows = max(r for _, r in positions.values()) + 1
    else:
        extra, positions, rows = list(tiles), {}, 0
    across = min(7, max(1, len(extra))) if not positions else 7
    for i, t in enumerate(extra):
        positions[t.code] = (i % across, rows + i // across)
    cols = max((c for c, _ in positions.values()), default=0) + 1
    n_rows = max((r for _, r in positions.values()), default=0) + 1
    width, height = cols * (size + gap), n_rows * (size + gap)
    parts = [
        f'<svg class="tiles" viewBox="0 0 {width} {height}" role="img" '
        f'aria-label="{escape(title)}" xmlns="http://www.w3.org/2000/svg"'
        f' style="max-width: {min(36, cols * 5.2):.1f}em">',
        f"<title>{escape(title)}</title>",
    ]
    for t in tiles:
        c, r = positions[t.code]
        x, y = c * (size + gap), r * (size + gap)
        mark = " ✓" if t.quorum else ""
        lines = short_name(t.name)
        label = "".join(
            f'<tspan x="{x + size / 2}" dy="{0 if i == 0 else 13}">{escape(line)}</tspan>'
            for i, line in enumerate(lines)
        )
        top = y + (22 if len(lines) == 1 else 16)
        parts.append(
            f'<a href="{escape(t.href)}"><title>{escape(t.name)}</title>'
            f'<rect class="tile level{t.level}" x="{x}" y="{y}" width="{size}" height="{size}" '
            f'rx="6"/>'
            f'<text class="code" x="{x + size / 2}" y="{y + 48}" text-anchor="middle">'
            f"{escape(t.code)}</text>"
            f'<text class="name" x="{x + size / 2}" y="{top}" text-anchor="middle">{label}</text>'
            f'<text class="pct" x="{x + size / 2}" y="{y + 72}" text-anchor="middle">'
            f"{escape(t.line)}{mark}</text></a>"
        )
    parts.append("</svg>")
    return Markup("".join(parts))
