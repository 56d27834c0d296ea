"""PNG plots of a run: latency distributions, and updater throughput against batch size."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.axes import Axes

QUERY_COLOURS = {"top 10": "tab:blue", "player rank": "tab:orange", "rank ± 4": "tab:green"}
STYLES = {"handler": "-", "store": "--", "raw": ":"}


def _cdf(ax: Axes, seconds: Sequence[float], label: str, colour: str, style: str = "-") -> None:
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return
    fractions = [(i + 1) / len(values) for i in range(len(values))]
    ax.plot(values, fractions, style, color=colour, label=label, linewidth=1.4)


def latency(
    path: Path,
    queries: Mapping[str, Sequence[float]],
    delays: Sequence[float],
    post_round_trips: Sequence[float],
    title: str,
) -> Path:
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    for name, seconds in queries.items():
        query, _, layer = name.partition(" / ")
        _cdf(left, seconds, name, QUERY_COLOURS.get(query, "black"), STYLES.get(layer, "-"))
    left.set_xscale("log")
    left.axvline(2.0, color="red", linewidth=0.8, linestyle="-.", label="target p99 2 ms")
    left.axhline(0.99, color="grey", linewidth=0.6)
    left.set_xlabel("latency (ms, log scale)")
    left.set_ylabel("fraction of calls")
    left.set_title("query latency CDF: handler vs RedisBoardReader vs raw redis-py")
    left.legend(fontsize=7, loc="lower right")
    left.grid(True, which="both", alpha=0.3)

    _cdf(right, delays, "POST sent -> visible on the board", "tab:purple")
    _cdf(right, post_round_trips, "POST round trip (202)", "tab:grey", "--")
    right.axvline(1000.0, color="red", linewidth=0.8, linestyle="-.", label="target p99 1 s")
    right.axhline(0.99, color="grey", linewidth=0.6)
    right.set_xscale("log")
    right.set_xlabel("milliseconds (log scale)")
    right.set_ylabel("fraction of probes")
    right.set_title("POST-to-visible through the local service")
    right.legend(fontsize=8, loc="lower right")
    right.grid(True, which="both", alpha=0.3)
    figure.suptitle(title)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def throughput(
    path: Path,
    handler_rates: Mapping[str, Mapping[int, float]],
    lua_rates: Mapping[str, Mapping[int, float]],
    floors: Mapping[str, float],
    title: str,
) -> Path:
    """Per window set (e.g. "1 window", "4 windows"): the handler and apply_scores.lua alone on its calls."""
    figure, ax = plt.subplots(figsize=(9, 5.5))
    markers = ["o", "^", "D", "v"]
    for (label, rates), marker in zip(handler_rates.items(), markers, strict=False):
        sizes = sorted(rates)
        ax.plot(sizes, [rates[s] for s in sizes], f"{marker}-", color="tab:blue", label=f"score_updater, {label}")
        floor = lua_rates.get(label, {})
        floor_sizes = sorted(floor)
        ax.plot(
            floor_sizes,
            [floor[s] for s in floor_sizes],
            f"{marker}--",
            color="tab:green",
            label=f"apply_scores.lua alone, the same calls, {label}",
        )
    colours = ["tab:red", "tab:orange", "tab:brown", "tab:pink"]
    for (name, rate), colour in zip(floors.items(), colours, strict=False):
        ax.axhline(rate, color=colour, linestyle=":", linewidth=1.2, label=f"{name}: {rate:,.0f}/s")
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("records per aws:kafka event (batch size)")
    ax.set_ylabel("records (or ops) per second, log scale")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right")
    ax.grid(True, which="both", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def sharded(
    path: Path, latencies: Mapping[int, Mapping[str, Sequence[float]]], write_rates: Mapping[int, float], title: str
) -> Path:
    """Left: each query's p50 and p99 against the shard count S; right: apply throughput against S."""
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 5))
    counts = sorted(latencies)
    colours = ["tab:blue", "tab:orange", "tab:green", "tab:red"]
    queries = list(next(iter(latencies.values()))) if latencies else []
    for query, colour in zip(queries, colours, strict=False):
        for pct, style in ((50, "o--"), (99, "o-")):
            values = []
            for count in counts:
                ordered = sorted(latencies[count][query])
                values.append(ordered[min(len(ordered) - 1, int(len(ordered) * pct / 100))] * 1000 if ordered else 0.0)
            left.plot(counts, values, style, color=colour, label=f"{query} p{pct}")
    left.set_xscale("log", base=2)
    left.set_xticks(counts, [str(c) for c in counts])
    left.set_xlabel("shards S")
    left.set_ylabel("ms")
    left.set_title("query latency (RedisBoardReader, one client)")
    left.legend(fontsize=8)
    left.grid(True, alpha=0.3)
    rate_counts = sorted(write_rates)
    right.bar([str(c) for c in rate_counts], [write_rates[c] for c in rate_counts], color="tab:blue")
    right.set_xlabel("shards S")
    right.set_ylabel("records/s")
    right.set_title("writes: RedisBoardWriter.apply, 2000-record slices, one thread")
    right.grid(True, axis="y", alpha=0.3)
    figure.suptitle(title, fontsize=10)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path


def floor_ratios(path: Path, ratio_rounds: Mapping[str, Sequence[float]], target: float, title: str) -> Path:
    """Per workload (window set and players): the handler's rate over its floor's in each round, and their median."""
    figure, ax = plt.subplots(figsize=(9, 5))
    labels = list(ratio_rounds)
    for position, label in enumerate(labels):
        ratios = sorted(ratio_rounds[label])
        ax.bar(position, ratios[(len(ratios) - 1) // 2], color="tab:blue", alpha=0.6, width=0.6)
        ax.plot([position] * len(ratios), ratios, "ko", markersize=4)
    ax.axhline(target, color="tab:red", linestyle="--", linewidth=1.2, label=f"target {target:g}x")
    ax.axhline(1.0, color="tab:gray", linestyle=":", linewidth=1)
    ax.set_xticks(range(len(labels)), labels, fontsize=8)
    ax.set_ylabel("score_updater / apply_scores.lua alone (same calls, same run)")
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower right", handles=[*ax.get_legend_handles_labels()[0]])
    ax.text(0.01, 0.02, "bars: median round; dots: each round", transform=ax.transAxes, fontsize=8)
    ax.grid(True, axis="y", alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return path
