#!/usr/bin/env python3
"""Build the plugin zip the QGIS plugin repository accepts: dist/padm_pansharpening-<version>.zip.

Run by `python3 build.py package` (as `.venv/bin/python tools/packaging.py [--out-dir DIR]`).
The zip holds one top-level folder `padm_pansharpening/` with the shipped runtime only, named by an
allow-list (SHIPPED): the engine and plugin modules, the resources, the bundled model (one
weights file, the .onnx) and its card. Nothing else ships — no lab, tools, docs, tests, training configs or candidate models.
Its metadata.txt gets the version of engine/__init__.py and the git commit. The finished zip is
checked against the repository's rules; any violation ends the build with one line. Standard
library only: this file runs outside the package and ships nowhere.
"""

from __future__ import annotations

import argparse
import ast
import configparser
import fnmatch
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Optional, Sequence

PACKAGE = "padm_pansharpening"
ROOT = Path(__file__).resolve().parents[1]
MODELS_FACTS = "engine/definitions.py"  # where the bundled model's file name is stated
# The allow-list: (folder, patterns) -> a file ships only when one pattern matches its path inside
# that folder ("*" stays in the folder itself, "**/*.py" is any depth; the folder "" is the root).
# "{bundled_models}" stands for the bundled model file engine/definitions.py names.
SHIPPED: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("", ("__init__.py", "__main__.py", "metadata.txt", "LICENSE")),
    ("engine", ("**/*.py",)),
    ("plugin", ("**/*.py",)),
    ("resources", ("**/*.svg", "**/*.png", "**/*.qml", "**/*.ui", "**/*.html")),
    ("models", ("{bundled_models}", "*.md")),  # the shipped model and its card, not subfolders
)
# Matches of the allow-list that still stay out: the README's pictures.
NOT_SHIPPED = {"resources/screenshot.png", "resources/before_after_landsat8.png"}
REQUIRED_FILES = ("__init__.py", "metadata.txt", "LICENSE")
REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                     "repository", "tracker")
MAX_BYTES = 25 * 1024 * 1024  # the QGIS plugin repository's upload limit
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree gives the same zip
# Weights files (model formats): the zip holds exactly one, the bundled .onnx (issue 16: one binary
# for a reviewer to query; torch builds its network from the .onnx).
WEIGHTS_SUFFIXES = (".onnx", ".pt", ".pth", ".ckpt", ".safetensors", ".h5", ".pb", ".tflite")


class PackageError(Exception):
    """The package cannot be built or breaks a repository rule; the message is one line."""


def bundled_model_names(root: Path = ROOT) -> list[str]:
    """The bundled model file (BUNDLED_MODEL_NAME, the one weights file that ships) as
    engine/definitions.py states it, read without importing the engine (this tool is standard
    library only)."""
    names: list[str] = []
    tree = ast.parse((root / MODELS_FACTS).read_text(encoding="utf-8"))
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)) and node.value is not None:
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            if any(isinstance(t, ast.Name) and t.id == "BUNDLED_MODEL_NAME" for t in targets):
                names.append(ast.literal_eval(node.value))
    if len(names) != 1 or not isinstance(names[0], str) or "/" in names[0]:
        raise PackageError(f"{MODELS_FACTS} lacks BUNDLED_MODEL_NAME = '<file name>': the bundled model is unknown.")
    return names


def is_shipped(rel: str, models: Sequence[str]) -> bool:
    """Whether the allow-list lets the file at ``rel`` (repository-relative, '/'-separated) ship."""
    parts = rel.split("/")
    if rel in NOT_SHIPPED or any(p.startswith(".") or p == "__pycache__" for p in parts):
        return False
    for folder, patterns in SHIPPED:
        if folder:
            if parts[0] != folder or len(parts) < 2:
                continue
            inner = "/".join(parts[1:])
        elif len(parts) == 1:
            inner = rel
        else:
            continue
        for pattern in patterns:
            names = models if pattern == "{bundled_models}" else [pattern]
            if any(_matches(inner, name) for name in names):
                return True
    return False


def _matches(path: str, pattern: str) -> bool:
    """fnmatch where '*' stays inside one folder and a leading '**/' spans any number of folders."""
    if pattern.startswith("**/"):
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern[3:])
    return "/" not in path and fnmatch.fnmatchcase(path, pattern)


def plugin_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(file, path inside the package) for everything the plugin ships, sorted."""
    models = bundled_model_names(root)
    files: list[tuple[Path, str]] = []
    for path in root.iterdir():
        if path.is_file() and is_shipped(path.name, models):
            files.append((path, path.name))
    for folder, _ in SHIPPED:
        if folder and (root / folder).is_dir():
            for path in (root / folder).rglob("*"):
                rel = path.relative_to(root).as_posix()
                if path.is_file() and is_shipped(rel, models):
                    files.append((path, rel))
    return sorted(files, key=lambda item: item[1])


def engine_version(root: Path = ROOT) -> str:
    """The project version: ``__version__`` of engine/__init__.py (what the CLI reports)."""
    match = re.search(r'^__version__\s*=\s*["\']([^"\']+)["\']', (root / "engine" / "__init__.py").read_text(), re.M)
    if not match:
        raise PackageError("engine/__init__.py has no __version__ = '...' line: add one.")
    return match.group(1)


def git_commit(root: Path = ROOT) -> str:
    """Short commit hash, '-dirty' when tracked files changed since; 'uncommitted' without commits or git."""
    def git(*args: str) -> Optional[str]:
        try:
            r = subprocess.run(["git", "--no-optional-locks", "-C", str(root), *args],
                               capture_output=True, text=True, timeout=30)
        except (OSError, subprocess.TimeoutExpired):
            return None
        return r.stdout.strip() if r.returncode == 0 else None

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "uncommitted"
    return commit + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


def parse_metadata(text: str) -> dict[str, str]:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # keys are case-sensitive (qgisMinimumVersion)
    try:
        parser.read_string(text)
        return dict(parser["general"])
    except (configparser.Error, KeyError) as exc:
        raise PackageError(f"metadata.txt is not valid ({' '.join(str(exc).split())}): fix its [general] section.")


def stamp_metadata(text: str, version: str, commit: str) -> str:
    """metadata.txt with ``version`` and ``commit`` set (other lines, comments and order kept)."""
    lines = [ln for ln in text.splitlines() if not re.match(r"\s*commit\s*=", ln)]
    for i, line in enumerate(lines):
        if re.match(r"\s*version\s*=", line):
            lines[i:i + 1] = [f"version={version}", f"commit={commit}"]
            return "\n".join(lines) + "\n"
    raise PackageError("metadata.txt has no version= line: add one to its [general] section.")


def check_zip(zip_path: Path, version: str) -> None:
    """The QGIS plugin repository's rules, checked on the finished zip."""
    size = zip_path.stat().st_size
    if size > MAX_BYTES:
        raise PackageError(f"{zip_path.name} is {size / 2**20:.1f} MB, over the repository's 25 MB limit: "
                           "ship fewer or smaller model files.")
    with zipfile.ZipFile(zip_path) as zf:
        names = zf.namelist()
        tops = {name.split("/", 1)[0] for name in names}
        if tops != {PACKAGE} or any("/" not in name for name in names):
            raise PackageError(f"{zip_path.name} must hold exactly one top-level folder {PACKAGE}/, not {sorted(tops)}.")
        inner = {name.split("/", 1)[1] for name in names}
        for required in REQUIRED_FILES:
            if required not in inner:
                raise PackageError(f"{zip_path.name} lacks {PACKAGE}/{required}: add {required} at the repository root.")
        bad = [n for n in names if n.endswith((".pyc", ".pyo")) or "/__pycache__/" in n or "/." in n]
        if bad:
            raise PackageError(f"{zip_path.name} holds compiled or hidden files ({bad[0]}): they must not ship.")
        models = bundled_model_names(ROOT)
        weights = sorted(n for n in inner if n.lower().endswith(WEIGHTS_SUFFIXES))
        if weights != [f"models/{m}" for m in models]:
            raise PackageError(f"{zip_path.name} holds the weights files {weights}: exactly one, "
                               f"models/{models[0]}, must ship.")
        extra = sorted(n for n in inner if not n.endswith("/") and not is_shipped(n, models))
        if extra:
            raise PackageError(f"{zip_path.name} holds {extra[0]}, which the allow-list SHIPPED does not name: "
                               "only the runtime ships.")
        meta = parse_metadata(zf.read(f"{PACKAGE}/metadata.txt").decode("utf-8"))
        missing = [key for key in REQUIRED_METADATA if not meta.get(key, "").strip()]
        if missing:
            raise PackageError(f"metadata.txt lacks required field(s) {', '.join(missing)}: add them.")
        if meta["version"] != version or not meta.get("commit"):
            raise PackageError(f"metadata.txt in {zip_path.name} is not stamped with version {version} and a commit.")
        if not re.fullmatch(r"\d+\.\d+(\.\d+)?", meta["qgisMinimumVersion"]):
            raise PackageError(f"metadata.txt qgisMinimumVersion '{meta['qgisMinimumVersion']}' is not like 3.22.")
        icon = meta.get("icon", "").strip()
        if icon and icon not in inner:
            raise PackageError(f"metadata.txt names icon {icon}, which the zip does not hold: add it to resources/.")


def build_package(root: Path = ROOT, out_dir: Optional[Path] = None) -> Path:
    """Write and check dist/padm_pansharpening-<version>.zip; returns its path."""
    version = engine_version(root)
    if not re.fullmatch(r"\d+\.\d+\.\d+([.-]?[0-9A-Za-z]+)*", version):
        raise PackageError(f"version '{version}' in engine/__init__.py is not like 1.2.3: fix __version__.")
    metadata_path = root / "metadata.txt"
    if not metadata_path.is_file():
        raise PackageError(f"{metadata_path} is missing: the plugin needs its metadata.txt.")
    metadata = metadata_path.read_text(encoding="utf-8")
    if parse_metadata(metadata).get("version") != version:
        raise PackageError(f"metadata.txt version differs from engine/__init__.py __version__ {version}: make them equal.")
    for path, rel in plugin_files(root):
        if path.suffix == ".py":
            try:
                compile(path.read_bytes(), rel, "exec", dont_inherit=True)
            except SyntaxError as exc:
                raise PackageError(f"{rel} line {exc.lineno}: {exc.msg}: fix the syntax error.") from None

    out_dir = Path(out_dir) if out_dir else root / "dist"
    out_dir.mkdir(parents=True, exist_ok=True)
    zip_path = out_dir / f"{PACKAGE}-{version}.zip"
    partial = zip_path.with_name(zip_path.name + ".part")
    stamped = stamp_metadata(metadata, version, git_commit(root))
    try:
        with zipfile.ZipFile(partial, "w", zipfile.ZIP_DEFLATED, compresslevel=9) as zf:
            for path, rel in plugin_files(root):
                info = zipfile.ZipInfo(f"{PACKAGE}/{rel}", date_time=ZIP_DATE)
                info.compress_type = zipfile.ZIP_DEFLATED
                info.external_attr = 0o644 << 16
                zf.writestr(info, stamped.encode("utf-8") if rel == "metadata.txt" else path.read_bytes())
        check_zip(partial, version)
        partial.replace(zip_path)
    finally:
        partial.unlink(missing_ok=True)
    return zip_path


def main(argv: Optional[Sequence[str]] = None) -> int:
    parser = argparse.ArgumentParser(description="Build the QGIS plugin zip (dist/padm_pansharpening-<version>.zip).")
    parser.add_argument("--out-dir", type=Path, help="folder for the zip (default: dist/ in the repository)")
    args = parser.parse_args(argv)
    try:
        zip_path = build_package(ROOT, args.out_dir)
    except PackageError as exc:
        print(f"package error: {exc}", file=sys.stderr)
        return 2
    with zipfile.ZipFile(zip_path) as zf:
        meta = parse_metadata(zf.read(f"{PACKAGE}/metadata.txt").decode("utf-8"))
        count = len(zf.namelist())
    print(f"wrote {zip_path} ({count} files, {zip_path.stat().st_size / 2**20:.2f} MB, "
          f"version {meta['version']}, commit {meta['commit']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
