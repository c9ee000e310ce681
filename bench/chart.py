"""The chart of ``docs/performance.md``: validation cost per token and HTTP ratios (matplotlib, optional)."""

# The labels are typeset: the multiplication sign, dashes and µ are meant.
# ruff: noqa: RUF001

from __future__ import annotations

from pathlib import Path
from typing import Any

from .report import HTTP_TARGETS


def draw(results: dict[str, Any], path: Path) -> bool:
    """Draw the chart with matplotlib (optional: ``pip install -e ".[bench]"``); ``False`` if unavailable."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        return False
    micro, http = results.get("micro"), results.get("http")
    panels = [part for part in (micro, http) if part]
    if not panels:
        return False
    figure, axes = plt.subplots(1, len(panels), figsize=(6 * len(panels), 4.2), squeeze=False)
    column = 0
    if micro:
        ax = axes[0][column]
        column += 1
        names = [
            ("floor", "(a) floor"),
            ("minimal", "(b) minimal"),
            ("jwtguard_fresh", "jwtguard, fresh token"),
            ("pyjwt", "(c) PyJWT"),
        ]
        algs = [alg["alg"] for alg in micro["algorithms"]]
        width = 0.8 / len(names)
        for index, (key, label) in enumerate(names):
            summaries = [alg["us"][key] for alg in micro["algorithms"]]
            medians = [summary["median"] for summary in summaries]
            lows = [summary["median"] - summary["q1"] for summary in summaries]
            highs = [summary["q3"] - summary["median"] for summary in summaries]
            positions = [i + (index - (len(names) - 1) / 2) * width for i in range(len(algs))]
            ax.bar(positions, medians, width, yerr=[lows, highs], capsize=2, label=label)
        repeated = max(alg["us"]["jwtguard_repeated"]["median"] for alg in micro["algorithms"])
        ax.set_xticks(range(len(algs)), algs)
        ax.set_ylabel("µs per call (median, interquartile range)")
        ax.set_title(f"Validation cost per token (repeated token: ≤ {repeated:.2f} µs)", fontsize=10)
        ax.legend(fontsize=8)
    if http:
        ax = axes[0][column]
        rows = [row for row in http["rows"] if row["variant"] != "no auth"]
        labels = [f"{row['framework']}\n{row['variant'].removeprefix('jwtguard, ')}" for row in rows]
        medians = [row["ratio"]["median"] for row in rows]
        lows = [m - row["ratio"]["min"] for m, row in zip(medians, rows, strict=True)]
        highs = [row["ratio"]["max"] - m for m, row in zip(medians, rows, strict=True)]
        bars = ax.bar(range(len(rows)), medians, yerr=[lows, highs], capsize=3, color="tab:green")
        ax.bar_label(bars, labels=[f"{m:.2f}×" for m in medians], label_type="center", color="white", fontsize=9)
        for index, row in enumerate(rows):
            floor = HTTP_TARGETS.get((row["framework"], row["variant"]))
            if floor is not None:
                ax.hlines(floor, index - 0.4, index + 0.4, colors="tab:red", linestyles="dashed")
        ax.axhline(1.0, color="grey", linewidth=0.8)
        ax.set_xticks(range(len(rows)), labels, fontsize=8)
        ax.set_ylim(0, 1.15)
        ax.set_ylabel("req/s ÷ no auth (median, min–max; dashed: target)")
        ax.set_title("HTTP throughput with jwtguard", fontsize=10)
    figure.suptitle(f"jwtguard — {results['machine']['date']}, {results['machine']['cpu']}", fontsize=9)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
    return True
