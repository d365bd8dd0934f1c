"""The shipped package's shape (issue 13): no import cycles, no upward imports into the lab or the
build tools, an engine that never imports QGIS or Qt, and each shared fact stated once."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RUNTIME = ("engine", "plugin")
NOT_SHIPPED = ("lab", "tools", "tests")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    files = [ROOT / "__init__.py", ROOT / "__main__.py"]
    for top in RUNTIME:
        files += sorted((ROOT / top).rglob("*.py"))
    return {_module_name(f) or "__init__": f for f in files}


def _imports(name: str, path: Path, known: set[str]) -> tuple[set[str], set[str]]:
    """(package modules this one imports, at any depth of the code, with the packages whose
    __init__ runs on the way; absolute imports of other top-level names)."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found, absolute = set(), set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.level:
            base = package.split(".") if package else []
            base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
            target = ".".join(base + ([node.module] if node.module else []))
            targets = [f"{target}.{a.name}".strip(".") for a in node.names]
            targets = [t if t in known else target for t in targets]
            for t in targets:
                parts = t.split(".")
                found.update(".".join(parts[:k]) for k in range(1, len(parts) + 1))  # parents' __init__ run
        elif isinstance(node, ast.Import):
            absolute.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom):
            absolute.add((node.module or "").split(".")[0])
    ancestors = {".".join(name.split(".")[:k]) for k in range(1, name.count(".") + 1)}  # loaded before it
    return {m for m in found if m in known and m != name and m not in ancestors}, absolute


def _graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    mods = _modules()
    known = set(mods)
    edges, absolute = {}, {}
    for name, path in mods.items():
        edges[name], absolute[name] = _imports(name, path, known)
    return edges, absolute


def _cycles(edges: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on, out = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in edges:
        if v not in index:
            visit(v)
    return out


def test_the_package_has_no_import_cycles():
    edges, _ = _graph()
    assert len(edges) > 40  # the walk found the package
    assert _cycles(edges) == []


def test_a_detected_cycle_is_reported():
    assert _cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]


def test_the_runtime_imports_neither_the_lab_nor_the_build_tools():
    edges, absolute = _graph()
    for name, names in absolute.items():
        assert not set(names) & set(NOT_SHIPPED), f"{name} imports {set(names) & set(NOT_SHIPPED)}"
    text = "\n".join(p.read_text() for p in _modules().values())
    for needle in ("../shared", "shared_data_dir", "PADM_SHARED_DATA", "load_scene("):
        assert needle not in text, f"a runtime module refers to {needle}"


def test_the_engine_never_imports_qgis_or_qt():
    _, absolute = _graph()
    for name, names in absolute.items():
        if name.startswith("engine"):
            assert not {"qgis", "PyQt5", "PyQt6"} & names, name


def test_engine_modules_never_import_the_plugin():
    edges, _ = _graph()
    assert not [(a, b) for a, bs in edges.items() if a.startswith("engine") for b in bs if b.startswith("plugin")]


def test_models_folder_holds_only_the_shipped_models_and_their_cards():
    names = {p.name for p in (ROOT / "models").iterdir()}
    # one weights file per quality preset (issue 16: no .pt twin; issue 14: the distilled fast model)
    assert names <= {"hfreqdiff.onnx", "HFREQDIFF_MODEL_CARD.md", "hfreqdiff_fast.onnx",
                     "HFREQDIFF_FAST_MODEL_CARD.md"}, names
