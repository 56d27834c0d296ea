"""Mutation-testing figures for `make mutation`: mutmut's results for the Python layers, the Lua runner's
(tools/lua_mutation.py) for the scripts, one table, JSON reports and docs/MUTATION.md.

A surviving mutant counts as "equivalent (justified)" only when tests/mutation_equivalents.toml lists its
stable key (module or script, the line before and after the change: no line numbers) with a reason.
The score leaves those out: killed % = (killed + timeout) / (total - equivalent).

    python tools/mutation_report.py python     # after `mutmut run`: bench/results/mutation.json
    python tools/mutation_report.py markdown   # docs/MUTATION.md from both JSON reports
"""

from __future__ import annotations

import argparse
import json
import sys
import tomllib
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
EQUIVALENTS = REPO_ROOT / "tests" / "mutation_equivalents.toml"
PYTHON_JSON = REPO_ROOT / "bench" / "results" / "mutation.json"
LUA_JSON = REPO_ROOT / "bench" / "results" / "lua_mutation.json"
MARKDOWN = REPO_ROOT / "docs" / "MUTATION.md"
TARGET_PERCENT = 85.0
STATUSES = ("killed", "timeout", "survived", "equivalent", "no tests", "other")


@dataclass(frozen=True)
class Mutant:
    unit: str  # the module or the script the mutant belongs to
    key: str  # stable: the unit, the function where known, the line before and after
    status: str  # one of STATUSES


@dataclass
class Tally:
    counts: Counter[str] = field(default_factory=Counter)

    @property
    def total(self) -> int:
        return sum(self.counts.values())

    @property
    def percent_killed(self) -> float:
        """(killed + timeout) / (total - equivalent): a justified equivalent cannot be killed by any test."""
        scored = self.total - self.counts["equivalent"]
        return 100.0 if scored == 0 else 100.0 * (self.counts["killed"] + self.counts["timeout"]) / scored

    def as_json(self) -> dict[str, Any]:
        return {status: self.counts[status] for status in STATUSES} | {
            "total": self.total,
            "percent_killed": round(self.percent_killed, 1),
        }


def load_equivalents(section: str, path: Path = EQUIVALENTS) -> dict[str, str]:
    """Stable key -> reason, for the section ("python" or "lua") of the equivalents file."""
    if not path.exists():
        return {}
    entries = tomllib.loads(path.read_text()).get(section, [])
    return {entry["key"]: entry["reason"] for entry in entries}


def justify(mutants: Iterable[Mutant], equivalents: Mapping[str, str]) -> list[Mutant]:
    """Survivors whose key the equivalents file lists become "equivalent"."""
    return [
        Mutant(m.unit, m.key, "equivalent") if m.status == "survived" and m.key in equivalents else m for m in mutants
    ]


def tallies(mutants: Iterable[Mutant]) -> dict[str, Tally]:
    by_unit: dict[str, Tally] = {}
    for mutant in mutants:
        by_unit.setdefault(mutant.unit, Tally()).counts[mutant.status] += 1
    return dict(sorted(by_unit.items()))


def overall(by_unit: Mapping[str, Tally]) -> Tally:
    total = Tally()
    for tally in by_unit.values():
        total.counts.update(tally.counts)
    return total


def table(title: str, by_unit: Mapping[str, Tally]) -> str:
    """A markdown table, also readable on a terminal."""
    header = ["| " + title + " | " + " | ".join(STATUSES) + " | total | % killed |"]
    header.append("|---" * (len(STATUSES) + 3) + "|")
    rows = [(name, tally) for name, tally in by_unit.items()] + [("**all**", overall(by_unit))]
    for name, tally in rows:
        cells = [str(tally.counts[status]) for status in STATUSES]
        header.append(f"| {name} | " + " | ".join(cells) + f" | {tally.total} | {tally.percent_killed:.1f} |")
    return "\n".join(header)


def report(
    title: str, mutants: list[Mutant], equivalents: Mapping[str, str], extra: Mapping[str, Any]
) -> dict[str, Any]:
    judged = justify(mutants, equivalents)
    by_unit = tallies(judged)
    return {
        "title": title,
        "target_percent": TARGET_PERCENT,
        "score": "(killed + timeout) / (total - equivalent)",
        "overall": overall(by_unit).as_json(),
        "by_unit": {name: tally.as_json() for name, tally in by_unit.items()},
        "survivors": sorted(m.key for m in judged if m.status == "survived"),
        "no_tests": sorted(m.key for m in judged if m.status == "no tests"),
        "stale_equivalents": sorted(set(equivalents) - {m.key for m in judged if m.status == "equivalent"}),
        **extra,
    }


def print_report(data: Mapping[str, Any]) -> None:
    by_unit = {name: Tally(Counter({s: counts[s] for s in STATUSES})) for name, counts in data["by_unit"].items()}
    print(table(data["title"], by_unit))
    for key in data["survivors"]:
        print(f"  survived: {key}")
    for key in data["stale_equivalents"]:
        print(f"  listed as equivalent but no longer surviving: {key}")


# --- mutmut (Python) ----------------------------------------------------------------------------------

MUTMUT_STATUS = {"killed": "killed", "timeout": "timeout", "survived": "survived", "no tests": "no tests"}


def changed_lines(diff: str) -> tuple[str, str]:
    """The removed and added lines of a unified diff, each joined and stripped of indentation."""
    lines = diff.splitlines()
    removed = " / ".join(line[1:].strip() for line in lines if line.startswith("-") and not line.startswith("---"))
    added = " / ".join(line[1:].strip() for line in lines if line.startswith("+") and not line.startswith("+++"))
    return removed, added


def mutmut_mutants() -> list[Mutant]:
    """Every mutant of the last `mutmut run` in this directory, keyed by its function and its change."""
    from mutmut.mutation.data import SourceFileMutationData
    from mutmut.mutation.diff_apply import get_diff_for_mutant
    from mutmut.stats import status_by_exit_code
    from mutmut.utils.file_utils import walk_mutatable_files

    mutants: list[Mutant] = []
    for path in walk_mutatable_files():
        data = SourceFileMutationData(path=path)
        data.load()
        module = str(path).removesuffix(".py").replace("/", ".")
        for name, exit_code in data.exit_code_by_key.items():
            status = MUTMUT_STATUS.get(status_by_exit_code[exit_code], "other")
            function = name.rpartition(".")[2].rpartition("__mutmut_")[0].replace("ǁ", ".").lstrip("x.")
            before, after = changed_lines(get_diff_for_mutant(name, path=path))
            mutants.append(Mutant(module, f"{module}:{function}: {before} => {after}", status))
    return mutants


def python_report(seconds: float) -> dict[str, Any]:
    return report(
        "Python module", mutmut_mutants(), load_equivalents("python"), {"tool": "mutmut", "seconds": round(seconds)}
    )


# --- docs/MUTATION.md ---------------------------------------------------------------------------------


def markdown(reports: Iterable[Mapping[str, Any]]) -> str:
    parts = [
        "# Mutation testing",
        "",
        "Generated by `make mutation` (tools/mutation_report.py); do not edit by hand.",
        "Score: (killed + timeout) / (total - equivalent), where an equivalent is a survivor listed with its",
        f"reason in tests/mutation_equivalents.toml. Target: {TARGET_PERCENT:.0f} %.",
    ]
    for data in reports:
        by_unit = {name: Tally(Counter({s: counts[s] for s in STATUSES})) for name, counts in data["by_unit"].items()}
        parts += ["", f"## {data['tool']} ({data['seconds']} s)", "", table(data["title"], by_unit)]
        if data["survivors"]:
            parts += ["", "Survivors not yet killed nor justified:", ""]
            parts += [f"- `{key}`" for key in data["survivors"]]
    return "\n".join(parts) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("what", choices=["python", "markdown"])
    parser.add_argument("--seconds", type=float, default=0.0, help="how long the mutmut run took")
    args = parser.parse_args(argv)
    if args.what == "python":
        data = python_report(args.seconds)
        PYTHON_JSON.parent.mkdir(parents=True, exist_ok=True)
        PYTHON_JSON.write_text(json.dumps(data, indent=2) + "\n")
        print_report(data)
        return 0
    reports = [json.loads(path.read_text()) for path in (PYTHON_JSON, LUA_JSON) if path.exists()]
    MARKDOWN.write_text(markdown(reports))
    below = [r["title"] for r in reports if r["overall"]["percent_killed"] < TARGET_PERCENT]
    print(f"wrote {MARKDOWN.relative_to(REPO_ROOT)}" + (f"; below the target: {', '.join(below)}" if below else ""))
    return 1 if below else 0


if __name__ == "__main__":
    sys.exit(main())
