"""The import rule of ARCHITECTURE.md: data -> models -> {training, serving} -> evaluation -> workflows -> cli, nothing lower imports higher."""

import ast
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "src" / "syndiag"
LAYERS = {
    "errors": 0, "ranks": 0, "atomic": 0, "config": 0,
    "data": 1, "physics": 1,
    "models": 2, "registry": 2, "prognostics": 2,
    "training": 3, "serving": 3,
    "evaluation": 4, "report": 4,
    "workflows": 5, "service": 5,
    "cli": 6, "__main__": 6,
}
SIBLINGS_APART = {("training", "serving"), ("serving", "training")}


def imports_of(path: Path) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("syndiag.") and node.level == 0:
            found.add(node.module.split(".")[1])
        elif isinstance(node, ast.Import):
            found.update(alias.name.split(".")[1] for alias in node.names if alias.name.startswith("syndiag."))
    return found


def room_of(path: Path) -> str:
    relative = path.relative_to(PACKAGE)
    return relative.parts[0] if len(relative.parts) > 1 else relative.stem


def test_every_module_belongs_to_a_layer():
    rooms = {room_of(p) for p in PACKAGE.rglob("*.py") if p.name != "__init__.py" or p.parent != PACKAGE}
    assert rooms <= set(LAYERS), f"modules outside any layer: {rooms - set(LAYERS)}"


@pytest.mark.parametrize("path", sorted(PACKAGE.rglob("*.py")), ids=lambda p: str(p.relative_to(PACKAGE)))
def test_nothing_lower_imports_anything_higher(path):
    if path == PACKAGE / "__init__.py":
        return
    room = room_of(path)
    upward = sorted(other for other in imports_of(path) if LAYERS[other] > LAYERS[room] or (room, other) in SIBLINGS_APART)
    assert not upward, f"{path.relative_to(PACKAGE)} ({room}, layer {LAYERS[room]}) imports {upward}"


def test_modules_stay_under_400_lines():
    long = {str(p.relative_to(PACKAGE)): n for p in PACKAGE.rglob("*.py") if (n := len(p.read_text().splitlines())) >= 400}
    assert not long, f"split along a seam: {long}"


def test_configs_load_without_torch():
    code = "import sys; from syndiag.config import RunConfig, BenchmarkConfig; RunConfig.from_yaml('syndiag/cpu'); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert result.stdout.strip() == "False"
