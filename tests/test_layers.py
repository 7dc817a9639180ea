"""The import-layer contract: Faces → Jobs → Service → Stages → Base, imports point down only.

A small AST check over ``src/tubesum`` (and the RunPod handler, a face that lives in ``deploy/serverless``).
Every import counts: at module level, inside functions, and under ``if TYPE_CHECKING:`` — a type-only import is
still a dependency of the design (it is how the ``metrics → jobs.types`` circle hid), and a lazy import only moves
the cost, not the dependency. On top of "down only", a face never imports a stage: faces go through the service
(or jobs) layer, so there is one render, one source resolution and one way to load a model.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FACES, JOBS, SERVICE, STAGES, BASE = 4, 3, 2, 1, 0
LAYER_NAMES = {FACES: "Faces", JOBS: "Jobs", SERVICE: "Service", STAGES: "Stages", BASE: "Base"}

_FACE_PREFIXES = (
    "tubesum.cli",
    "tubesum.api",
    "tubesum.frontends",
    "tubesum.desktop",
    "tubesum.client",
    "tubesum.bench",
    "tubesum.__main__",
    "deploy.",
)
_STAGE_PREFIXES = ("tubesum.pipeline", "tubesum.diarize", "tubesum.summarize", "tubesum.outputs")
_SERVICE_MODULES = ("tubesum.service", "tubesum.doctor")

#: Known exceptions, each with the reason and who removes it. Empty: keep it that way.
ALLOWED: frozenset[tuple[str, str]] = frozenset()


def layer_of(module: str) -> int:
    """The layer a dotted module name belongs to (anything not named above is Base)."""

    def under(prefixes: tuple[str, ...]) -> bool:
        return any(module == p.rstrip(".") or module.startswith(p.rstrip(".") + ".") for p in prefixes)

    if under(_FACE_PREFIXES):
        return FACES
    if under(("tubesum.jobs",)):
        return JOBS
    if under(_SERVICE_MODULES):
        return SERVICE
    if under(_STAGE_PREFIXES):
        return STAGES
    return BASE


@dataclass(frozen=True, slots=True)
class Violation:
    importer: str
    imported: str
    line: int
    why: str

    def __str__(self) -> str:
        return f"{self.importer}:{self.line} imports {self.imported} ({self.why})"


def module_name(path: Path, root: Path) -> tuple[str, list[str]]:
    """The dotted name of a source file under ``root`` and the package its relative imports start from."""
    parts = list(path.relative_to(root).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
        return ".".join(parts), parts
    return ".".join(parts), parts[:-1]


def imported_modules(tree: ast.AST, package: list[str]) -> list[tuple[str, int]]:
    """Every ``tubesum`` module a file imports, wherever the import statement stands."""
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.extend((alias.name, node.lineno) for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = ".".join(package[: len(package) - node.level + 1])
                module = f"{base}.{node.module}" if node.module else base
            else:
                module = node.module or ""
            # ``from tubesum import service`` imports the submodule: name it so its layer is seen (a name that
            # is not a module is reduced to its module by ``_known``)
            found.extend((f"{module}.{alias.name}", node.lineno) for alias in node.names)
    return [(name, line) for name, line in found if name == "tubesum" or name.startswith("tubesum.")]


def _known(module: str, modules: set[str]) -> str:
    """The longest prefix of ``module`` that is a module (``tubesum.outputs.render`` → ``tubesum.outputs``)."""
    while module not in modules and "." in module:
        module = module.rsplit(".", 1)[0]
    return module


def check(files: dict[str, Path], roots: dict[str, Path]) -> list[Violation]:
    """Check each file (dotted name → path); ``roots`` maps a file's name to the directory its name is relative to."""
    trees = {name: ast.parse(path.read_text(encoding="utf-8"), str(path)) for name, path in files.items()}
    modules = set(files)
    violations: list[Violation] = []
    for name, tree in trees.items():
        _, package = module_name(files[name], roots[name])
        mine = layer_of(name)
        for raw, line in imported_modules(tree, package):
            target = _known(raw, modules)
            if target == name or (name, target) in ALLOWED:
                continue
            theirs = layer_of(target)
            if theirs > mine:
                why = f"{LAYER_NAMES[mine]} must not import {LAYER_NAMES[theirs]}"
            elif mine == FACES and theirs == STAGES:
                why = "a face uses the service layer, never a stage"
            else:
                continue
            violations.append(Violation(name, target, line, why))
    return sorted(set(violations), key=str)


def project_files() -> tuple[dict[str, Path], dict[str, Path]]:
    files: dict[str, Path] = {}
    roots: dict[str, Path] = {}
    src = ROOT / "src"
    extra = [ROOT / "deploy" / "serverless" / "runpod_handler.py"]
    for path in [*sorted((src / "tubesum").rglob("*.py")), *extra]:
        root = src if path.is_relative_to(src) else ROOT
        name, _ = module_name(path, root)
        files[name], roots[name] = path, root
    return files, roots


def test_imports_point_down_and_faces_never_import_a_stage() -> None:
    files, roots = project_files()
    assert "tubesum.service" in files and "deploy.serverless.runpod_handler" in files
    violations = check(files, roots)
    assert not violations, "layer contract broken:\n" + "\n".join(map(str, violations))


@pytest.mark.parametrize(
    ("module", "layer"),
    [
        ("tubesum.cli.transcribe", FACES),
        ("tubesum.client", FACES),
        ("deploy.serverless.runpod_handler", FACES),
        ("tubesum.jobs.runner", JOBS),
        ("tubesum.service", SERVICE),
        ("tubesum.pipeline.models", STAGES),
        ("tubesum.outputs", STAGES),
        ("tubesum.metrics", BASE),
        ("tubesum.errors", BASE),
        ("tubesum.options", BASE),
        ("tubesum.servicex", BASE),  # a prefix of a name is not the module
    ],
)
def test_layer_of_names_each_layer(module: str, layer: int) -> None:
    assert layer_of(module) == layer


def _plant(tmp_path: Path, sources: dict[str, str]) -> list[Violation]:
    files: dict[str, Path] = {}
    roots: dict[str, Path] = {}
    for name, text in sources.items():
        parts = name.split(".")
        path = tmp_path.joinpath(*parts[:-1], parts[-1] + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
        module, _ = module_name(path, tmp_path)
        files[module], roots[module] = path, tmp_path
    return check(files, roots)


def test_check_fails_on_planted_upward_imports_even_inside_functions_and_type_checking(tmp_path: Path) -> None:
    violations = _plant(
        tmp_path,
        {
            "tubesum.__init__": "",
            "tubesum.metrics": (
                "from typing import TYPE_CHECKING\n"
                "if TYPE_CHECKING:\n    from tubesum.jobs.types import JobState\n"
                "def collect():\n    from .jobs import types\n"
            ),
            "tubesum.jobs.__init__": "",
            "tubesum.jobs.types": "import tubesum.service\n",
            "tubesum.service": "from tubesum import outputs\n",
            "tubesum.outputs.__init__": "from tubesum.config import Settings\n",
            "tubesum.config": "",
        },
    )
    assert [str(v) for v in violations] == [
        "tubesum.metrics:3 imports tubesum.jobs.types (Base must not import Jobs)",
        "tubesum.metrics:5 imports tubesum.jobs.types (Base must not import Jobs)",
    ]


def test_check_fails_on_a_face_importing_a_stage(tmp_path: Path) -> None:
    violations = _plant(
        tmp_path,
        {
            "tubesum.api.__init__": "",
            "tubesum.api.jobs": "from tubesum.outputs import render\nfrom tubesum import service\n",
            "tubesum.outputs.__init__": "",
            "tubesum.service": "",
            "deploy.serverless.runpod_handler": "from tubesum.pipeline.ingest import parse_source\n",
            "tubesum.pipeline.__init__": "",
            "tubesum.pipeline.ingest": "",
        },
    )
    face_rule = "(a face uses the service layer, never a stage)"
    assert [str(v) for v in violations] == [
        f"deploy.serverless.runpod_handler:1 imports tubesum.pipeline.ingest {face_rule}",
        f"tubesum.api.jobs:1 imports tubesum.outputs {face_rule}",
    ]
