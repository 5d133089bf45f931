"""A tiny inline-SVG bar chart for the staff dashboard (no JavaScript, no CDN)."""

from __future__ import annotations

from datetime import date

from django.utils.html import escape, format_html
from django.utils.safestring import SafeString, mark_safe


def bar_chart_svg(points: list[tuple[date, int]], *, title: str, color: str = "#417690") -> SafeString:
    width, height, pad_left, pad_bottom, pad_top = 640, 170, 48, 22, 18
    plot_w, plot_h = width - pad_left - 8, height - pad_bottom - pad_top
    peak = max((v for _, v in points), default=0) or 1
    slot = plot_w / max(len(points), 1)
    bars = []
    for i, (day, value) in enumerate(points):
        h = plot_h * value / peak
        x = pad_left + i * slot + slot * 0.1
        y = pad_top + plot_h - h
        bars.append(
            format_html(
                '<rect x="{}" y="{}" width="{}" height="{}" fill="{}"><title>{}: {}</title></rect>',
                f"{x:.1f}",
                f"{y:.1f}",
                f"{slot * 0.8:.1f}",
                f"{h:.1f}",
                color,
                day.isoformat(),
                value,
            )
        )
    first = points[0][0].isoformat() if points else ""
    last = points[-1][0].isoformat() if points else ""
    return mark_safe(  # noqa: S308 (every interpolated value is escaped by format_html/escape above)
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="{escape(title)}" '
        f'width="{width}" height="{height}" viewBox="0 0 {width} {height}" style="background:#fafafa">'
        f'<text x="{pad_left}" y="12" font-size="12" font-weight="bold">{escape(title)}</text>'
        f'<text x="4" y="{pad_top + 10}" font-size="10">{peak}</text>'
        f'<text x="4" y="{pad_top + plot_h}" font-size="10">0</text>'
        f'<line x1="{pad_left}" y1="{pad_top + plot_h}" x2="{width - 8}" y2="{pad_top + plot_h}" stroke="#999"/>'
        + "".join(bars)
        + f'<text x="{pad_left}" y="{height - 6}" font-size="10">{first}</text>'
        f'<text x="{width - 8}" y="{height - 6}" font-size="10" text-anchor="end">{last}</text>'
        "</svg>"
    )
