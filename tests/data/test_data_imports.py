"""The data layer never imports torch (docs/architecture.md)."""

import ast
from pathlib import Path

import climate_bnnp.data

FORBIDDEN = ("torch", "climate_bnnp.tasks", "climate_bnnp.models")


def test_no_torch_import_in_data_layer():
    root = Path(climate_bnnp.data.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] == "torch" or n in FORBIDDEN]
    assert offenders == []


def test_every_module_has_all():
    root = Path(climate_bnnp.data.__file__).parent
    for path in root.glob("*.py"):
        assert "__all__" in path.read_text(), path.name
