"""Mutation testing of the Lua scripts (mutmut only mutates Python), part of `make mutation`.

Each script in shared/adapters/lua/ gets mutants: comparison flips (boundary and negation), + and -,
* and /, and/or, `not` removed, numbers moved by one, and single Redis writes deleted; comments and
strings are left alone. The tests that run the scripts on a real redis-server then run against each
mutant, in one pytest session (servers start once) over a copy of the tree: the copy's script file
is rewritten between mutants, so production code has no hook for this. A mutant is killed when one
of its script's tests fails, "timeout" when a test overruns the per-test bound.

    python tools/lua_mutation.py [--budget SECONDS] [--per-test-timeout SECONDS] [--only SCRIPT]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from types import FrameType
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parent.parent
LUA_DIR = Path("shared") / "adapters" / "lua"
PLAN_VARIABLE = "LUA_MUTATION_PLAN"

# The integration tests that run each script on a real server (the model test joins when present).
TESTS_BY_SCRIPT: dict[str, list[str]] = {
    "apply_scores.lua": [
        "tests/integration/test_apply_script.py",
        "tests/integration/test_apply_retention_and_cap.py",
        "tests/integration/test_apply_script_mutants.py",
        "tests/integration/test_score_model.py",
        "tests/integration/test_apply_fold.py",
        "tests/integration/test_moderation_model.py",
    ],
    "players_ahead.lua": ["tests/integration/test_query_windows.py", "tests/integration/test_score_model.py"],
    "player_standing.lua": ["tests/integration/test_query_windows.py", "tests/integration/test_score_model.py"],
    "top_entries.lua": ["tests/integration/test_query_windows.py", "tests/integration/test_score_model.py"],
}

COMPARISON_FLIPS = {
    ">": [">=", "<="],
    ">=": [">", "<"],
    "<": ["<=", ">="],
    "<=": ["<", ">"],
    "==": ["~="],
    "~=": ["=="],
}
ARITHMETIC_FLIPS = {"+": ["-"], "-": ["+"], "*": ["/"], "/": ["*"]}
LOGICAL_FLIPS = {"and": ["or"], "or": ["and"]}
REDIS_WRITES = {"ZADD", "HSET", "HDEL", "ZREM", "ZREMRANGEBYSCORE", "PEXPIRE", "PEXPIREAT", "PERSIST", "DEL", "EXPIRE"}
TOKEN = re.compile(
    r"""(?P<comment>--\[(?P<level>=*)\[.*?\](?P=level)\]|--[^\n]*)
      |(?P<string>'(?:\\.|[^'\\\n])*'|"(?:\\.|[^"\\\n])*"|\[(?P<slevel>=*)\[.*?\](?P=slevel)\])
      |(?P<number>\d+(?:\.\d+)?)
      |(?P<name>[A-Za-z_][A-Za-z0-9_]*)
      |(?P<op>\.\.|==|~=|>=|<=|[-+*/%^#<>=(){}\[\];:,.])
      |(?P<space>\s+)""",
    re.VERBOSE | re.DOTALL,
)
OPERAND_END = {"number", "name", "string", ")", "]", "}"}
NOT_OPERAND_NAMES = {"and", "or", "not", "return", "then", "do", "else", "elseif", "if", "until", "in", "local"}


@dataclass(frozen=True)
class Token:
    kind: str  # number, name, string, op
    text: str
    start: int


@dataclass(frozen=True)
class LuaMutant:
    script: str
    operator: str
    start: int  # span of the source replaced
    end: int
    replacement: str
    key: str  # stable: the script, the line before and after (and which occurrence of that change)

    def apply(self, source: str) -> str:
        return source[: self.start] + self.replacement + source[self.end :]


def tokens(source: str) -> list[Token]:
    """Lua tokens without comments or whitespace; strings kept whole (never mutated)."""
    found: list[Token] = []
    position = 0
    while position < len(source):
        match = TOKEN.match(source, position)
        if match is None:
            raise ValueError(f"unexpected character {source[position]!r} at {position}")
        kind = match.lastgroup or ""
        if kind in ("level", "slevel"):
            kind = "comment" if match.group("comment") else "string"
        if kind not in ("comment", "space"):
            found.append(Token(kind, match.group(), position))
        position = match.end()
    return found


def _is_binary(previous: Token | None) -> bool:
    """Whether an operator after `previous` is binary (`a - 1`) rather than unary (`-1`, `= -x`)."""
    if previous is None:
        return False
    if previous.kind == "name":
        return previous.text not in NOT_OPERAND_NAMES
    return previous.kind in ("number", "string") or previous.text in (")", "]", "}")


def _call_end(found: list[Token], open_index: int) -> int:
    """The index of the parenthesis closing the one at `open_index`."""
    depth = 0
    for index in range(open_index, len(found)):
        depth += {"(": 1, ")": -1}.get(found[index].text, 0)
        if depth == 0:
            return index
    raise ValueError("unbalanced parentheses")


def _edits(found: list[Token]) -> Iterator[tuple[str, int, int, str]]:
    """(operator, start, end, replacement) for every mutation of the token list."""
    for index, token in enumerate(found):
        previous = found[index - 1] if index else None
        end = token.start + len(token.text)
        if token.kind == "op" and token.text in COMPARISON_FLIPS:
            for flip in COMPARISON_FLIPS[token.text]:
                yield "comparison", token.start, end, flip
        elif token.kind == "op" and token.text in ARITHMETIC_FLIPS and _is_binary(previous):
            for flip in ARITHMETIC_FLIPS[token.text]:
                yield "arithmetic", token.start, end, flip
        elif token.kind == "name" and token.text in LOGICAL_FLIPS:
            for flip in LOGICAL_FLIPS[token.text]:
                yield "logical", token.start, end, flip
        elif token.kind == "name" and token.text == "not":
            yield "not removed", token.start, found[index + 1].start, ""
        elif token.kind == "number" and "." not in token.text:
            negative = (
                previous is not None
                and previous.text == "-"
                and not _is_binary(found[index - 2] if index > 1 else None)
            )
            start = previous.start if negative and previous is not None else token.start
            value = -int(token.text) if negative else int(token.text)
            for moved in (value + 1, value - 1):
                yield "constant", start, end, str(moved) if moved >= 0 else f"({moved})"
        elif token.text == "redis" and _is_write_statement(found, index):
            close = _call_end(found, index + 3)
            yield "write removed", token.start, found[close].start + 1, "do end"


def _is_write_statement(found: list[Token], index: int) -> bool:
    """`redis.call('WRITE', ...)` standing as a statement (its value unused)."""
    if index + 4 >= len(found):
        return False
    call = [t.text for t in found[index : index + 4]]
    if call != ["redis", ".", "call", "("] or found[index + 4].text.strip("'\"") not in REDIS_WRITES:
        return False
    previous = found[index - 1] if index else None
    if previous is None or previous.text in ("then", "do", "else", "end"):
        return True
    return _is_binary(previous)  # the previous statement ended with an operand


def mutants(script: str, source: str) -> list[LuaMutant]:
    """Every mutant of one script, keyed by the line it changes (so a key survives lines moving)."""
    generated: list[LuaMutant] = []
    seen: dict[str, int] = {}
    for operator, start, end, replacement in _edits(tokens(source)):
        line_start = source.rfind("\n", 0, start) + 1
        line_end = source.find("\n", end)
        line_end = len(source) if line_end < 0 else line_end
        before = " ".join(source[line_start:line_end].split())
        after = " ".join((source[line_start:start] + replacement + source[end:line_end]).split())
        key = f"{script}: {before} => {after}"
        seen[key] = seen.get(key, 0) + 1
        if seen[key] > 1:
            key += f" #{seen[key]}"
        generated.append(LuaMutant(script, operator, start, end, replacement, key))
    return generated


# --- running -------------------------------------------------------------------------------------------


def copy_tree(destination: Path) -> None:
    ignored = shutil.ignore_patterns(".git", ".venv*", "mutants", ".*_cache", "__pycache__", ".aws-sam", ".hypothesis")
    shutil.copytree(REPO_ROOT, destination, ignore=ignored, symlinks=True)


@dataclass(frozen=True)
class _SessionOnly:
    """Stands for a next item that needs nothing but the session (pytest's SetupState.teardown_exact)."""

    session: Any

    def listchain(self) -> list[Any]:
        return [self.session]


class _MutantTimeout(Exception):
    pass


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _MutantTimeout


_redis_urls: set[str] = set()


@pytest.hookimpl(wrapper=True)
def pytest_fixture_setup(fixturedef: Any, request: Any) -> Any:
    """Notes the Redis servers the session's fixtures start, to empty them between mutants."""
    value = yield
    for attribute in ("redis_url", "url"):
        url = getattr(value, attribute, None)
        if isinstance(url, str) and url.startswith("redis"):
            _redis_urls.add(url)
    return value


def _fresh_servers(months_taken: set[str]) -> None:
    """What one mutant wrote must not meet the next mutant's tests: the Redis servers are emptied and
    the past months the tests hand out (tests.support.past_months) become free again."""
    import redis

    from tests.support import past_months

    past_months._used_periods.clear()
    past_months._used_periods.update(months_taken)
    for url in list(_redis_urls):
        try:
            with redis.Redis.from_url(url) as client:
                client.flushall()
        except redis.ConnectionError:
            _redis_urls.discard(url)  # a module's own server, stopped with its module: started afresh


def pytest_runtestloop(session: Any) -> bool:
    """Loaded with `-p tools.lua_mutation` in the copy: each mutant in turn against its script's tests."""
    from _pytest.runner import runtestprotocol

    from tests.support import past_months

    months_taken = set(past_months._used_periods)  # those the test modules reserved when imported

    plan = json.loads(Path(os.environ[PLAN_VARIABLE]).read_text())
    per_test_timeout, deadline = plan["per_test_timeout"], time.monotonic() + plan["budget"]
    results = Path(plan["results"])
    signal.signal(signal.SIGALRM, _on_alarm)
    items_by_file: dict[str, list[Any]] = {}
    for item in session.items:
        items_by_file.setdefault(str(Path(str(item.fspath)).relative_to(Path.cwd())), []).append(item)

    def run(items: list[Any]) -> tuple[str, str]:
        """The items in order up to the first failure, after tearing down everything but the session's
        fixtures: the servers stay up, while module fixtures (a loaded handler holds its scripts' text)
        start again on the mutated script."""
        session._setupstate.teardown_exact(_SessionOnly(session))
        _fresh_servers(months_taken)
        for position, item in enumerate(items):
            nextitem = items[(position + 1) % len(items)]
            signal.setitimer(signal.ITIMER_REAL, per_test_timeout)
            try:
                reports = runtestprotocol(item, log=False, nextitem=nextitem)
            except _MutantTimeout:
                reports, timed_out = [], True
            else:
                timed_out = False
            finally:
                signal.setitimer(signal.ITIMER_REAL, 0)
            failed = [r for r in reports if r.failed]
            timed_out = timed_out or any("_MutantTimeout" in str(r.longrepr) for r in failed)
            if timed_out or failed:
                if os.environ.get("LUA_MUTATION_DEBUG"):
                    print(f"{item.nodeid} {[r.when for r in failed]}\n{failed[0].longrepr if failed else ''}")
                return ("timeout" if timed_out else "killed", item.nodeid)
        return ("survived", "")

    for script, entries in plan["scripts"].items():
        path = Path(LUA_DIR / script)
        original = path.read_text()
        items = [item for name in plan["tests"][script] for item in items_by_file.get(name, [])]
        started = time.monotonic()
        if run(items)[0] != "survived":
            raise RuntimeError(f"the tests of {script} fail on the unmutated script")
        baseline = time.monotonic() - started
        print(f"\n{script}: {len(items)} tests, {baseline:.1f} s unmutated, {len(entries)} mutants", flush=True)
        for number, entry in enumerate(entries, 1):
            if time.monotonic() > deadline:
                status, by = "not run", ""
            else:
                path.write_text(LuaMutant(**entry).apply(original))
                started = time.monotonic()
                try:
                    status, by = run(items)
                finally:
                    path.write_text(original)
                elapsed = time.monotonic() - started
                print(f"  [{number}/{len(entries)}] {status:8} {elapsed:5.1f} s  {entry['key']}  {by}", flush=True)
            with results.open("a") as out:
                out.write(json.dumps({"script": script, "key": entry["key"], "status": status, "by": by}) + "\n")
    session._setupstate.teardown_exact(None)
    return True


def main(argv: list[str] | None = None) -> int:
    sys.path.insert(0, str(REPO_ROOT))
    from tools import mutation_report

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--budget", type=float, default=600.0, help="seconds for all mutants (the rest: not run)")
    parser.add_argument("--per-test-timeout", type=float, default=30.0)
    parser.add_argument("--only", action="append", help="a script name (repeatable); default: every script")
    parser.add_argument("--match", default="", help="only the mutants whose key contains this text")
    parser.add_argument("--json", type=Path, default=mutation_report.LUA_JSON)
    args = parser.parse_args(argv)

    scripts = args.only or sorted(path.name for path in (REPO_ROOT / LUA_DIR).glob("*.lua"))
    started = time.monotonic()
    with tempfile.TemporaryDirectory(prefix="lua-mutation-") as scratch:
        tree = Path(scratch) / "tree"
        copy_tree(tree)
        plan_path, results_path = Path(scratch) / "plan.json", Path(scratch) / "results.jsonl"
        tests = {s: [t for t in TESTS_BY_SCRIPT.get(s, []) if (tree / t).exists()] for s in scripts}
        plan = {
            "budget": args.budget,
            "per_test_timeout": args.per_test_timeout,
            "results": str(results_path),
            "tests": tests,
            "scripts": {
                s: [asdict(m) for m in mutants(s, (tree / LUA_DIR / s).read_text()) if args.match in m.key]
                for s in scripts
            },
        }
        plan_path.write_text(json.dumps(plan))
        test_files = sorted({t for names in tests.values() for t in names})
        environ = dict(os.environ, PYTHONPATH=str(tree), **{PLAN_VARIABLE: str(plan_path)})
        command = [
            sys.executable,
            "-m",
            "pytest",
            "-q",
            "-p",
            "tools.lua_mutation",
            "-p",
            "no:cacheprovider",
            *test_files,
        ]
        completed = subprocess.run(command, cwd=tree, env=environ, check=False)
        if completed.returncode not in (0, 5) or not results_path.exists():
            print(f"the mutation session failed (pytest exit {completed.returncode})", file=sys.stderr)
            return 1
        lines = results_path.read_text().splitlines()
    found = [json.loads(line) for line in lines]
    data = mutation_report.report(
        "Lua script",
        [
            mutation_report.Mutant(r["script"], r["key"], "other" if r["status"] == "not run" else r["status"])
            for r in found
        ],
        mutation_report.load_equivalents("lua"),
        {
            "tool": "tools/lua_mutation.py",
            "seconds": round(time.monotonic() - started),
            "tests": tests,
            "not_run": sum(r["status"] == "not run" for r in found),
        },
    )
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(data, indent=2) + "\n")
    mutation_report.print_report(data)
    return 0


if __name__ == "__main__":
    sys.exit(main())
