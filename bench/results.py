"""Result rows, latency summaries, the printed table and the JSON files in bench/results/."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

RESULTS_DIR = Path(__file__).resolve().parent / "results"
SCHEMA_VERSION = 1


@dataclass(frozen=True)
class Target:
    """A target of docs/PERFORMANCE.md: `on` the row's value or its ratio to the floor, at least or at most `bound`."""

    text: str
    bound: float
    kind: Literal["min", "max"]
    on: Literal["value", "ratio"] = "value"

    def met(self, value: float, ratio: float | None) -> bool | None:
        measured = value if self.on == "value" else ratio
        if measured is None or math.isnan(measured):
            return None
        return measured >= self.bound if self.kind == "min" else measured <= self.bound


@dataclass
class Result:
    """One measurement. `ratio` is always value / floor (for a throughput: times faster than the floor;
    for a latency or a duration: times slower)."""

    name: str
    value: float
    unit: str
    floor: float | None = None
    floor_name: str | None = None
    parameters: dict[str, Any] = field(default_factory=dict)
    targets: list[Target] = field(default_factory=list)

    @property
    def ratio(self) -> float | None:
        if self.floor is None or self.floor == 0:
            return None
        return self.value / self.floor

    def as_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "value": _round(self.value),
            "unit": self.unit,
            "floor": None if self.floor is None else _round(self.floor),
            "floor_name": self.floor_name,
            "ratio": None if self.ratio is None else round(self.ratio, 3),
            "targets": [
                {"target": t.text, "on": t.on, "kind": t.kind, "bound": t.bound, "met": t.met(self.value, self.ratio)}
                for t in self.targets
            ],
            "parameters": self.parameters,
        }


def _round(number: float) -> float:
    if number == 0 or math.isnan(number) or math.isinf(number):
        return number
    digits = max(0, 5 - math.floor(math.log10(abs(number))))
    return round(number, digits)


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of already sorted values."""
    if not sorted_values:
        return math.nan
    rank = max(1, math.ceil(pct / 100 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


def summary_ms(seconds: Sequence[float]) -> dict[str, float | int]:
    """p50/p90/p99/p99.9/max/mean in milliseconds of durations given in seconds."""
    values = sorted(s * 1000 for s in seconds)
    if not values:
        return {"n": 0}
    return {
        "n": len(values),
        "p50_ms": round(percentile(values, 50), 4),
        "p90_ms": round(percentile(values, 90), 4),
        "p99_ms": round(percentile(values, 99), 4),
        "p999_ms": round(percentile(values, 99.9), 4),
        "max_ms": round(values[-1], 4),
        "mean_ms": round(sum(values) / len(values), 4),
    }


def format_number(number: float | None) -> str:
    if number is None or math.isnan(number):
        return "-"
    magnitude = abs(number)
    if magnitude >= 1000:
        return f"{number:,.0f}"
    if magnitude >= 100:
        return f"{number:.0f}"
    if magnitude >= 10:
        return f"{number:.1f}"
    if magnitude >= 1:
        return f"{number:.2f}"
    return f"{number:.3f}"


def table(results: Sequence[Result]) -> str:
    """An aligned plain-text table: name, value, floor, ratio, target and whether it is met."""
    header = ("measurement", "value", "unit", "floor", "ratio", "target", "met")
    rows: list[tuple[str, ...]] = [header]
    for result in results:
        ratio = result.ratio
        verdicts = [t.met(result.value, ratio) for t in result.targets]
        rows.append(
            (
                result.name,
                format_number(result.value),
                result.unit,
                format_number(result.floor),
                "-" if ratio is None else f"{ratio:.2f}x",
                "; ".join(t.text for t in result.targets) or "-",
                " ".join({True: "yes", False: "NO", None: "?"}[v] for v in verdicts) or "",
            )
        )
    widths = [max(len(row[i]) for row in rows) for i in range(len(header))]
    right = {1, 3, 4}
    lines = []
    for index, row in enumerate(rows):
        cells = [cell.rjust(widths[i]) if i in right else cell.ljust(widths[i]) for i, cell in enumerate(row)]
        lines.append("  ".join(cells).rstrip())
        if index == 0:
            lines.append("  ".join("-" * w for w in widths))
    return "\n".join(lines)


def markdown_table(rows: Sequence[dict[str, Any]]) -> str:
    """The rows of a results JSON as a Markdown table (for docs/PERFORMANCE.md)."""
    lines = ["| measurement | value | floor (same run) | ratio | target | met |", "|---|---:|---|---:|---|---|"]
    verdict = {True: "yes", False: "**no**", None: "?"}
    for row in rows:
        floor = "-" if row["floor"] is None else f"{format_number(row['floor'])} {row['unit']}: {row['floor_name']}"
        ratio = "-" if row["ratio"] is None else f"{row['ratio']:.2f}x"
        targets = "; ".join(t["target"] for t in row["targets"]) or "-"
        met = " ".join(verdict[t["met"]] for t in row["targets"])
        lines.append(
            f"| {row['name']} | {format_number(row['value'])} {row['unit']} | {floor} | {ratio} | {targets} | {met} |"
        )
    return "\n".join(lines)


def write(document: dict[str, Any], dated_name: str, directory: Path = RESULTS_DIR) -> tuple[Path, Path]:
    """Write latest.json and a dated copy; return both paths."""
    directory.mkdir(parents=True, exist_ok=True)
    latest = directory / "latest.json"
    latest.write_text(json.dumps(document, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    dated = directory / dated_name
    shutil.copyfile(latest, dated)
    return latest, dated
