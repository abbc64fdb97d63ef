"""The progress plot: metric per experiment, kept ones marked, the running best as a step line."""

from __future__ import annotations

import io
from pathlib import Path

from magnet_market._atomic import write_atomic
from magnet_market.autoresearch.keep import Direction
from magnet_market.autoresearch.ledger import Record, Status


def plot_progress(records: list[Record], metric: str, direction: Direction, path: Path) -> Path:
    """Save the progress of ``records`` as a PNG at ``path``; returns it."""
    # Imported here: matplotlib costs ~0.35 s, which every `magnet` command would pay otherwise.
    # The Agg canvas directly, not pyplot: files only (no display on servers and in CI), and no
    # global backend state changed for the caller.
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=110)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot()
    ax.scatter(*_scored(records, "discard"), s=18, c="0.6", label="discarded")
    ax.scatter(
        *_scored(records, "keep"),
        s=50,
        c="tab:green",
        edgecolors="black",
        zorder=3,
        label="kept",
    )
    best, xs, ys = None, [], []
    for r in records:  # the best is the last kept one: the keep rule already beat the noise
        if r.status == "keep":
            best = r.metric
        if best is not None:
            xs.append(r.id)
            ys.append(best)
    ax.step(xs, ys, where="post", c="tab:blue", label="running best")
    crashes = [r.id for r in records if r.status == "crash"]
    if crashes and ys:
        ax.scatter(crashes, [ys[0]] * len(crashes), marker="x", c="tab:red", label="crash")
    ax.set_xlabel("experiment")
    ax.set_ylabel(f"{metric} ({'lower' if direction == 'minimize' else 'higher'} is better)")
    ax.grid(alpha=0.3)
    ax.legend(loc="best", fontsize=8)
    fig.tight_layout()
    png = io.BytesIO()
    fig.savefig(png, format="png")
    write_atomic(path, png.getvalue())  # the dashboard may read it while the run goes on
    return path


def _scored(records: list[Record], status: Status) -> tuple[list[int], list[float]]:
    """Ids and metrics of the ``records`` with ``status`` that have a metric."""
    ids: list[int] = []
    metrics: list[float] = []
    for r in records:
        if r.status == status and r.metric is not None:
            ids.append(r.id)
            metrics.append(r.metric)
    return ids, metrics
