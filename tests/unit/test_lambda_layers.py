"""Each function's layer holds what its handler imports and nothing else (tools/lambda_layers.py).

The derivation is held to grimp's import graph, and each handler is imported in a process that
sees only its own layer's `shared` modules and none of the other layers' packages.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

from tests.support.deployed_template import RESOURCES
from tests.support.handler_subprocess import clean_environment
from tools import lambda_layers
from tools.lambda_layers import LAYER_FUNCTIONS

LAYERS = sorted(LAYER_FUNCTIONS)
KAFKA_ONLY = {"kafka-python", "aws-msk-iam-sasl-signer-python", "crc32c"}
CLOSED = {"REDIS_URL": "redis://127.0.0.1:1/0", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:1"}


@pytest.fixture(scope="module")
def graph() -> grimp.ImportGraph:
    return grimp.build_graph("shared", include_external_packages=True)


def handler_imports(layer: str, graph: grimp.ImportGraph) -> set[str]:
    """What app.py imports itself, as modules of the graph (`from a import b` is a.b when that is a module)."""
    imported: set[str] = set()
    for node in ast.walk(ast.parse(lambda_layers.handler_file(layer).read_text())):
        if isinstance(node, ast.Import):
            imported.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names = {f"{node.module}.{alias.name}" for alias in node.names} & graph.modules
            imported.update(names or {node.module})
    return imported


def grimp_closure(layer: str, graph: grimp.ImportGraph) -> set[str]:
    """Everything the handler needs, by the graph: its imports, theirs, and the packages above each."""
    needed: set[str] = set()
    pending = handler_imports(layer, graph)
    while pending:
        module = pending.pop()
        if module in needed:
            continue
        needed.add(module)
        parts = module.split(".")
        pending |= {".".join(parts[:end]) for end in range(1, len(parts))}
        if module in graph.modules:
            pending |= graph.find_modules_directly_imported_by(module)
    return needed


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layers_modules_are_its_handlers_import_closure(layer: str, graph: grimp.ImportGraph) -> None:
    expected = {module for module in grimp_closure(layer, graph) if module.split(".")[0] == "shared"}
    assert lambda_layers.shared_modules(layer) == sorted(expected)


@pytest.mark.parametrize("layer", LAYERS)
def test_a_layers_packages_are_what_its_code_imports(layer: str, graph: grimp.ImportGraph) -> None:
    tops = {module.split(".")[0] for module in grimp_closure(layer, graph)}
    expected = {top for top in tops if top != "shared" and top not in sys.stdlib_module_names}
    assert lambda_layers.third_party_imports(layer) == sorted(expected)
    unmet = expected - {r.module for r in lambda_layers.layer_requirements(layer)} - lambda_layers.RUNTIME_PROVIDED
    assert not unmet, f"imported by {layer}'s code but in no line of layers/requirements.txt"


def test_every_requirement_and_lua_script_serves_some_layer() -> None:
    used = {r.name for layer in LAYERS for r in lambda_layers.layer_requirements(layer)}
    assert {r.name for r in lambda_layers.requirements()} == used
    scripts = {name for layer in LAYERS for name in lambda_layers.lua_scripts(layer)}
    assert scripts == {path.name for path in lambda_layers.LUA_DIR.glob("*.lua")}


def test_only_the_ingest_layer_ships_a_kafka_client() -> None:
    names = {layer: {r.name for r in lambda_layers.layer_requirements(layer)} for layer in LAYERS}
    assert names["IngestLayer"] >= KAFKA_ONLY
    assert not KAFKA_ONLY & (names["QueryLayer"] | names["UpdaterLayer"])
    for layer in ("QueryLayer", "UpdaterLayer"):
        assert not {"kafka", "aws_msk_iam_sasl_signer"} & set(lambda_layers.third_party_imports(layer))
        assert not [module for module in lambda_layers.shared_modules(layer) if "kafka" in module]


def test_the_template_gives_each_function_its_own_layer() -> None:
    wiring = {
        Path(spec["Properties"]["CodeUri"]).name: [ref["Ref"] for ref in spec["Properties"].get("Layers", [])]
        for spec in RESOURCES.values()
        if spec["Type"] == "AWS::Serverless::Function"
    }
    assert wiring == {function: [layer] for layer, function in LAYER_FUNCTIONS.items()}


_IMPORT_WITH_ONLY_THE_LAYER = """
import importlib.abc, importlib.machinery, json, sys

layer_dir, function_dir, blocked = sys.argv[1], sys.argv[2], set(filter(None, sys.argv[3].split(",")))


class OnlyTheLayer(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path, target=None):
        top = name.partition(".")[0]
        if top in blocked:
            raise ModuleNotFoundError(f"{name} is not in this function's layer", name=name)
        if top != "shared":
            return None
        spec = importlib.machinery.PathFinder.find_spec(name, [layer_dir] if path is None else path)
        if spec is None:
            raise ModuleNotFoundError(f"{name} is not in this function's layer", name=name)
        return spec


sys.meta_path.insert(0, OnlyTheLayer())
sys.path[:0] = [function_dir, layer_dir]
import app

loaded = [module.__file__ for name, module in sys.modules.items() if name.partition(".")[0] == "shared"]
print(json.dumps({"handler": callable(app.lambda_handler), "shared": loaded}))
"""


@pytest.mark.parametrize("layer", LAYERS)
def test_a_handler_imports_with_nothing_but_its_layer(layer: str, tmp_path: Path) -> None:
    layer_dir = tmp_path / "python"
    lambda_layers.copy(layer, layer_dir)
    others = {r.module for r in lambda_layers.requirements()} - set(lambda_layers.third_party_imports(layer))
    function_dir = lambda_layers.handler_file(layer).parent
    finished = subprocess.run(
        [sys.executable, "-I", "-c", _IMPORT_WITH_ONLY_THE_LAYER, str(layer_dir), str(function_dir), ",".join(others)],
        cwd=tmp_path,
        env=clean_environment(**CLOSED),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert finished.returncode == 0, finished.stderr
    answer = json.loads(finished.stdout.splitlines()[-1])
    assert answer["handler"]
    assert all(Path(file).is_relative_to(layer_dir) for file in answer["shared"])


def test_a_build_with_a_stray_module_or_package_is_refused(tmp_path: Path) -> None:
    python_dir = tmp_path / "python"
    lambda_layers.copy("QueryLayer", python_dir)
    for requirement in lambda_layers.layer_requirements("QueryLayer"):
        (python_dir / f"{requirement.name.replace('-', '_')}-1.0.dist-info").mkdir()
    assert lambda_layers.problems_in_build("QueryLayer", python_dir) == []

    (python_dir / "shared/adapters/kafka_producer.py").write_text("")
    (python_dir / "kafka").mkdir()
    (python_dir / "kafka_python-3.0.dist-info").mkdir()
    (python_dir / "shared/adapters/lua/top_entries.lua").unlink()
    assert lambda_layers.problems_in_build("QueryLayer", python_dir) == [
        "lacks shared/adapters/lua/top_entries.lua",
        "holds shared/adapters/kafka_producer.py, which its function does not import",
        "holds kafka-python, which its function does not import",
        "holds the package kafka",
    ]
