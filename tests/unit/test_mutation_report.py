"""`make mutation`'s figures (tools/mutation_report.py) and its list of equivalent mutants."""

from __future__ import annotations

import tomllib
from collections import Counter

from tools.mutation_report import EQUIVALENTS, Mutant, Tally, changed_lines, justify, report


def test_the_score_leaves_justified_equivalents_out_and_counts_timeouts_as_killed() -> None:
    tally = Tally(Counter({"killed": 80, "timeout": 5, "survived": 10, "equivalent": 5}))
    assert tally.percent_killed == 100 * 85 / 95


def test_only_a_listed_survivor_becomes_an_equivalent() -> None:
    mutants = [Mutant("m", "a", "survived"), Mutant("m", "b", "survived"), Mutant("m", "c", "killed")]
    judged = justify(mutants, {"a": "why", "c": "why"})
    assert [m.status for m in judged] == ["equivalent", "survived", "killed"]


def test_a_report_names_survivors_and_listed_keys_that_no_longer_survive() -> None:
    data = report("t", [Mutant("m", "a", "survived"), Mutant("m", "b", "killed")], {"b": "stale"}, {})
    assert (data["survivors"], data["stale_equivalents"]) == (["a"], ["b"])
    assert data["overall"]["percent_killed"] == 50.0


def test_a_python_key_is_the_changed_lines_without_indentation() -> None:
    diff = "--- a.py\n+++ a.py\n@@ -1,2 +1,2 @@\n def f(x):\n-    return x > 0\n+    return x >= 0"
    assert changed_lines(diff) == ("return x > 0", "return x >= 0")


def test_every_listed_equivalent_has_a_reason_and_appears_once() -> None:
    listed = tomllib.loads(EQUIVALENTS.read_text())
    for section in ("python", "lua"):
        keys = [entry["key"] for entry in listed[section]]
        assert len(keys) == len(set(keys)), section
        assert all(entry["reason"].strip() for entry in listed[section]), section
