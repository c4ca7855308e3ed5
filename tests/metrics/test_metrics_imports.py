"""metrics is torch-free and imports only what docs/architecture.md allows (config and itself)."""

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2] / "climate_bnnp"


def imported_modules(package: str) -> dict[str, list[str]]:
    """Absolute module names imported by each file of ``climate_bnnp/<package>``."""
    out = {}
    for path in sorted((ROOT / package).rglob("*.py")):
        names = []
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names += [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                assert node.level == 0, f"{path.name}: use absolute imports"
                names.append(node.module)
        out[path.name] = names
    return out


def test_metrics_imports_follow_design():
    allowed_internal = {"metrics", "config"}
    for name, mods in imported_modules("metrics").items():
        for mod in mods:
            top = mod.split(".")
            assert top[0] != "torch", f"{name} imports {mod}"
            if top[0] == "climate_bnnp":
                assert len(top) > 1 and top[1] in allowed_internal, f"{name} imports {mod}"


def test_every_metrics_module_has_all():
    for path in (ROOT / "metrics").glob("*.py"):
        assert "__all__" in path.read_text(), path.name
