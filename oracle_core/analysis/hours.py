"""How long a figure's settings took and will take, from the grid's own bookkeeping (measured seconds per mask):
what a page's re-run box states."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from ..experiment.grid import plan, progress, projected_hours


@dataclass(frozen=True)
class Hours:
    """Of ``total`` grid settings, ``done`` are stored; ``spent``: their measured worker-hours divided by the
    workers (None if none measured); ``left``: the projection for the rest (None if no time is measured yet at the
    profile)."""

    done: int
    total: int
    spent: float | None
    left: float | None


def setting_hours(profile: str, settings: list, results_root: Path | None, workers: int) -> Hours:
    """``settings``: stored.StoredSetting of one figure."""
    everything = progress(plan(profile), results_root)
    _, typical = projected_hours(everything, workers)
    labels = {c.entry.label for c in settings}
    mine = [p for p in everything if p["entry"].label in labels]
    done = [p for p in mine if p["complete"]]
    spent = sum(p["masks"] * (p["s_per_mask"] or typical or 0) for p in done) / 3600 / workers
    left, _ = projected_hours([p for p in mine if not p["complete"]], workers)
    if left is None and typical is not None:
        left = sum(p["left"] * typical for p in mine if p["data"]) / 3600 / workers
    return Hours(len(done), len(mine), spent or None, left)
