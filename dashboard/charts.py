"""A server-rendered SVG bar chart: no JavaScript, readable without colour (every bar has its
number and its week written under it)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    height: float
    value_label: str
    week_label: str


def bars(values: list[tuple[date, int]], *, label: str = "{}", width: int = 520, height: int = 150) -> list[Bar]:
    top = max((v for _, v in values), default=0) or 1
    slot = width / max(len(values), 1)
    plot = height - 40
    out = []
    for i, (week, value) in enumerate(values):
        h = plot * value / top
        out.append(
            Bar(
                x=i * slot + slot * 0.15,
                y=20 + plot - h,
                height=h,
                value_label=label.format(value),
                week_label=f"{week.day} {week:%b}",
            )
        )
    return out
