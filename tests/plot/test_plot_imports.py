"""plot is torch-free and imports only what docs/architecture.md allows (data, metrics, config and itself)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "climate_bnnp"


def test_plot_imports_follow_design():
    allowed_internal = {"plot", "data", "metrics", "config"}
    for path in sorted((ROOT / "plot").rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                mods = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                mods = [node.module]
            else:
                continue
            for mod in mods:
                parts = mod.split(".")
                assert parts[0] != "torch", f"{path.name} imports {mod}"
                if parts[0] == "climate_bnnp":
                    assert len(parts) > 1 and parts[1] in allowed_internal, f"{path.name} imports {mod}"


def test_every_plot_module_has_all():
    for path in (ROOT / "plot").glob("*.py"):
        assert "__all__" in path.read_text(), path.name
