"""What each function's Lambda layer holds, derived from the imports of the function's handler.

    python tools/lambda_layers.py show                        # every layer's modules, scripts, requirements
    python tools/lambda_layers.py requirements QueryLayer     # its lines of layers/requirements.txt
    python tools/lambda_layers.py copy QueryLayer DEST        # its shared/ modules and Lua scripts into DEST
    python tools/lambda_layers.py verify QueryLayer DEST      # DEST holds exactly that, and no other requirement

A layer holds the `shared` modules its handler imports, directly or through other `shared` modules
(with the packages above them), the Lua scripts those modules name, and the lines of
layers/requirements.txt whose package the handler's code imports. layers/Makefile runs this for
`sam build` with whatever python3 it finds, so only the standard library is used here; a unit test
holds the module lists to grimp's import graph.
"""

from __future__ import annotations

import argparse
import ast
import re
import shutil
import sys
from dataclasses import dataclass
from functools import cache
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
SHARED = "shared"
LUA_DIR = REPO_ROOT / SHARED / "adapters" / "lua"
REQUIREMENTS = REPO_ROOT / "layers" / "requirements.txt"

# Layer logical id in template.yaml -> the function directory (functions/<name>/app.py) it serves.
LAYER_FUNCTIONS = {
    "IngestLayer": "match_ingest",
    "QueryLayer": "leaderboard_query",
    "UpdaterLayer": "score_updater",
    "CloserLayer": "period_closer",
    "RebuildLayer": "board_rebuild",
    "LiveLayer": "live_connection",
    "NotifierLayer": "live_notifier",
    "ModerationAdminLayer": "moderation_admin",
}
# The module a requirement is for, where it is not the requirement's own name with "_" for "-".
# crc32c is never imported by us: kafka-python uses it, when installed, to checksum record batches.
IMPORTED_AS = {
    "kafka-python": "kafka",
    "aws-msk-iam-sasl-signer-python": "aws_msk_iam_sasl_signer",
    "crc32c": "kafka",
}
# Provided by the Lambda runtime, never shipped in a layer.
RUNTIME_PROVIDED = frozenset({"boto3", "botocore"})


@dataclass(frozen=True)
class Requirement:
    line: str
    name: str

    @property
    def module(self) -> str:
        return IMPORTED_AS.get(self.name, self.name.replace("-", "_"))


def requirements() -> list[Requirement]:
    """The lines of layers/requirements.txt, each with its distribution name (extras and versions dropped)."""
    found = []
    for raw in REQUIREMENTS.read_text().splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            name = re.split(r"[\[<>=!~;\s]", line, maxsplit=1)[0].lower()
            found.append(Requirement(line, name))
    return found


def handler_file(layer: str) -> Path:
    return REPO_ROOT / "functions" / LAYER_FUNCTIONS[layer] / "app.py"


def module_file(module: str) -> Path:
    """The file of a `shared` module: its .py, or the package's __init__.py."""
    path = REPO_ROOT.joinpath(*module.split("."))
    return path / "__init__.py" if path.is_dir() else path.with_suffix(".py")


def _is_module(module: str) -> bool:
    path = REPO_ROOT.joinpath(*module.split("."))
    return (path / "__init__.py").is_file() or path.with_suffix(".py").is_file()


@cache
def _imports(path: Path, package: str) -> frozenset[str]:
    """Modules the file imports, anywhere in it; `from a import b` counts a.b when b is a module of ours."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parts = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(filter(None, [*parts, base]))
            found.add(base)
            if base.split(".")[0] == SHARED:
                found.update(f"{base}.{alias.name}" for alias in node.names if _is_module(f"{base}.{alias.name}"))
    return frozenset(found)


def _with_packages(module: str) -> list[str]:
    parts = module.split(".")
    return [".".join(parts[:end]) for end in range(1, len(parts) + 1)]


@cache
def _closure(layer: str) -> tuple[frozenset[str], frozenset[str]]:
    """(the `shared` modules the handler needs, the top-level names of everything else it imports)."""
    shared: set[str] = set()
    others: set[str] = set()
    pending = [(handler_file(layer), "")]
    while pending:
        path, package = pending.pop()
        for module in _imports(path, package):
            if module.split(".")[0] != SHARED:
                others.add(module.split(".")[0])
                continue
            for needed in _with_packages(module):
                if needed not in shared and _is_module(needed):
                    shared.add(needed)
                    file = module_file(needed)
                    pending.append((file, needed if file.name == "__init__.py" else needed.rpartition(".")[0]))
    return frozenset(shared), frozenset(others)


def shared_modules(layer: str) -> list[str]:
    return sorted(_closure(layer)[0])


def third_party_imports(layer: str) -> list[str]:
    """Top-level packages, neither the standard library's nor ours, that the handler's code imports."""
    return sorted(name for name in _closure(layer)[1] if name not in sys.stdlib_module_names)


def lua_scripts(layer: str) -> list[str]:
    """The Lua files named by string literals in the layer's modules (lua_source("top_entries.lua"))."""
    names = set()
    for module in shared_modules(layer):
        for node in ast.walk(ast.parse(module_file(module).read_text())):
            value = node.value if isinstance(node, ast.Constant) else None
            if isinstance(value, str) and value.endswith(".lua") and (LUA_DIR / value).is_file():
                names.add(value)
    return sorted(names)


def layer_requirements(layer: str) -> list[Requirement]:
    imported = set(third_party_imports(layer))
    return [requirement for requirement in requirements() if requirement.module in imported]


def layer_files(layer: str) -> list[Path]:
    """The layer's files from the repository, relative to its root (as they go under python/ in the layer)."""
    modules = [module_file(module).relative_to(REPO_ROOT) for module in shared_modules(layer)]
    scripts = [(LUA_DIR / name).relative_to(REPO_ROOT) for name in lua_scripts(layer)]
    return sorted(modules + scripts)


def copy(layer: str, destination: Path) -> None:
    for relative in layer_files(layer):
        target = destination / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(REPO_ROOT / relative, target)


def _normalized(distribution: str) -> str:
    return re.sub(r"[-_.]+", "_", distribution).lower()


def problems_in_build(layer: str, python_dir: Path) -> list[str]:
    """How a built layer's python/ directory differs from what the layer should hold."""
    expected = {path.as_posix() for path in layer_files(layer)}
    built = {
        path.relative_to(python_dir).as_posix()
        for path in (python_dir / SHARED).rglob("*")
        if path.is_file() and path.suffix in (".py", ".lua")
    }
    problems = [f"lacks {name}" for name in sorted(expected - built)]
    problems += [f"holds {name}, which its function does not import" for name in sorted(built - expected)]
    installed = {_normalized(path.name.split("-", 1)[0]) for path in python_dir.glob("*.dist-info")}
    wanted = {requirement.name for requirement in layer_requirements(layer)}
    for requirement in requirements():
        if requirement.name in wanted and _normalized(requirement.name) not in installed:
            problems.append(f"lacks {requirement.name}")
        elif requirement.name not in wanted and _normalized(requirement.name) in installed:
            problems.append(f"holds {requirement.name}, which its function does not import")
    unused = {requirement.module for requirement in requirements()} - set(third_party_imports(layer))
    problems += [f"holds the package {name}" for name in sorted(unused) if (python_dir / name).exists()]
    problems += [
        f"holds {name}, which the runtime provides" for name in RUNTIME_PROVIDED if (python_dir / name).exists()
    ]
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("show")
    for name in ("requirements", "copy", "verify"):
        command = commands.add_parser(name)
        command.add_argument("layer", choices=sorted(LAYER_FUNCTIONS))
        if name != "requirements":
            command.add_argument("destination", type=Path)
    args = parser.parse_args(argv)

    if args.command == "show":
        for layer, function in LAYER_FUNCTIONS.items():
            print(f"{layer} (functions/{function}):")
            print(f"  requirements: {', '.join(r.line for r in layer_requirements(layer))}")
            print(f"  lua: {', '.join(lua_scripts(layer))}")
            print(f"  modules: {', '.join(shared_modules(layer))}")
    elif args.command == "requirements":
        print("\n".join(requirement.line for requirement in layer_requirements(args.layer)))
    elif args.command == "copy":
        copy(args.layer, args.destination)
    else:
        problems = problems_in_build(args.layer, args.destination)
        for problem in problems:
            print(f"{args.layer}: {problem}", file=sys.stderr)
        return 1 if problems else 0
    return 0


if __name__ == "__main__":
    sys.exit(main())
