"""Charts drawn on the server as inline SVG (no script, nothing loaded): jobs finished per minute (completed and
failed, stacked) and the success rate, over a window of buckets. This module only computes the geometry; the
template writes the elements (escaped like everything else)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

from leadworker.store.job_stats import Bucket

WIDTH = 600
HEIGHT = 150
LEFT = 40
RIGHT = 8
TOP = 10
BOTTOM = 22


@dataclass(frozen=True)
class Bar:
    x: float
    y: float
    width: float
    height: float
    kind: str
    """``completed`` or ``failed``: the CSS class."""
    label: str


@dataclass(frozen=True)
class Tick:
    position: float
    label: str


@dataclass
class Chart:
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    bars: list[Bar] = field(default_factory=list)
    line: str = ""
    """``points`` of the success-rate polyline (buckets where something finished)."""
    dots: list[tuple[float, float, str]] = field(default_factory=list)
    y_ticks: list[Tick] = field(default_factory=list)
    x_ticks: list[Tick] = field(default_factory=list)
    summary: str = ""
    """The chart in words: the accessible name, and what a text browser shows."""

    @property
    def plot_bottom(self) -> int:
        return self.height - BOTTOM

    @property
    def plot_left(self) -> int:
        return LEFT


def _nice_ceiling(value: float) -> float:
    for step in (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10_000, 50_000, 100_000):
        if value <= step:
            return float(step)
    return float(value)


def _x_ticks(buckets: Sequence[Bucket], slot: float, every: int) -> list[Tick]:
    ticks = []
    for n, bucket in enumerate(buckets):
        if n % every == 0:
            ticks.append(Tick(LEFT + n * slot + slot / 2, bucket.start.astimezone(dt.UTC).strftime("%H:%M")))
    return ticks


def throughput_chart(title: str, buckets: Sequence[Bucket], bucket_seconds: int, label_every: int) -> Chart:
    """Jobs finished per minute in each bucket: completed below, failed stacked on top."""
    chart = Chart(title)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    per_minute = 60 / bucket_seconds
    peak = _nice_ceiling(max((b.completed + b.failed) * per_minute for b in buckets) if buckets else 1.0)
    slot = plot_width / max(1, len(buckets))
    for n, bucket in enumerate(buckets):
        base = float(HEIGHT - BOTTOM)
        x = LEFT + n * slot + slot * 0.1
        when = bucket.start.astimezone(dt.UTC).strftime("%H:%M")
        for kind, count in (("completed", bucket.completed), ("failed", bucket.failed)):
            if not count:
                continue
            height = count * per_minute / peak * plot_height
            base -= height
            rate = round(count * per_minute, 2)
            chart.bars.append(
                Bar(
                    round(x, 2),
                    round(base, 2),
                    round(slot * 0.8, 2),
                    round(height, 2),
                    kind,
                    f"{when} UTC: {count} {kind} ({rate:g}/min)",
                )
            )
    chart.y_ticks = [Tick(HEIGHT - BOTTOM - f * plot_height, f"{peak * f:g}") for f in (0, 0.5, 1)]
    chart.x_ticks = _x_ticks(buckets, slot, label_every)
    done = sum(b.completed for b in buckets)
    failed = sum(b.failed for b in buckets)
    minutes = len(buckets) * bucket_seconds / 60
    chart.summary = f"{title}: {done} completed, {failed} failed, {(done + failed) / minutes:.2f} jobs/min on average"
    return chart


def success_chart(title: str, buckets: Sequence[Bucket], label_every: int) -> Chart:
    """The share of finished jobs that completed, per bucket where any finished (a gap where none did)."""
    chart = Chart(title)
    plot_width = WIDTH - LEFT - RIGHT
    plot_height = HEIGHT - TOP - BOTTOM
    slot = plot_width / max(1, len(buckets))
    points = []
    for n, bucket in enumerate(buckets):
        decided = bucket.completed + bucket.failed
        if not decided:
            continue
        rate = bucket.completed / decided
        x = round(LEFT + n * slot + slot / 2, 2)
        y = round(HEIGHT - BOTTOM - rate * plot_height, 2)
        points.append(f"{x},{y}")
        when = bucket.start.astimezone(dt.UTC).strftime("%H:%M")
        chart.dots.append((x, y, f"{when} UTC: {rate * 100:.0f} % of {decided} succeeded"))
    chart.line = " ".join(points)
    chart.y_ticks = [Tick(HEIGHT - BOTTOM - f * plot_height, f"{f * 100:.0f} %") for f in (0, 0.5, 1)]
    chart.x_ticks = _x_ticks(buckets, slot, label_every)
    done = sum(b.completed for b in buckets)
    decided_all = done + sum(b.failed for b in buckets)
    chart.summary = (
        f"{title}: {done / decided_all * 100:.1f} % of {decided_all} finished jobs succeeded"
        if decided_all
        else f"{title}: no job finished"
    )
    return chart
