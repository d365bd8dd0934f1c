#!/usr/bin/env python3
"""Build the plugin zip the QGIS plugin repository accepts: dist/padm_pansharpening-<version>.zip.

Run by `python3 build.py package` (as `.venv/bin/python plugin/packaging.py [--out-dir DIR]`).
The zip holds one top-level folder `padm_pansharpening/` with the plugin's code, models and
resources (no tests, caches or build outputs); its metadata.txt gets the version of
engine/__init__.py and the git commit. The finished zip is checked against the repository's
rules; any violation ends the build with one line. Standard library only: this file also runs
outside the package and ships nowhere.
"""

from __future__ import annotations

import argparse
import configparser
import re
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Optional, Sequence

PACKAGE = "padm_pansharpening"
ROOT = Path(__file__).resolve().parents[1]
TOP_FILES = ("__init__.py", "__main__.py", "metadata.txt", "LICENSE", "README.md")
TOP_DIRS = ("engine", "plugin", "models", "resources")
REQUIRED_FILES = ("__init__.py", "metadata.txt", "LICENSE")
# and hidden (.*) entries; models/candidates: trained models kept for development, not shipped
SKIP_DIRS = {"__pycache__", "tests", "dist", "build", "checkpoints", "train_logs", "candidates"}
SKIP_SUFFIXES = (".pyc", ".pyo", ".aux.xml", ".orig", ".rej", ".swp", "~")
# development tools and the README's picture
SKIP_FILES = {"plugin/packaging.py", "plugin/screenshot.py", "resources/screenshot.png", "Thumbs.db"}
REQUIRED_METADATA = ("name", "qgisMinimumVersion", "description", "about", "version", "author", "email",
                     "repository", "tracker")
MAX_BYTES = 25 * 1024 * 1024  # the QGIS plugin repository's upload limit
ZIP_DATE = (1980, 1, 1, 0, 0, 0)  # fixed timestamps: the same tree gives the same zip


class PackageError(Exception):
    """The package cannot be built or breaks a repository rule; the message is one line."""


def plugin_files(root: Path = ROOT) -> list[tuple[Path, str]]:
    """(file, path inside the package) for everything the plugin ships, sorted."""
    files: list[tuple[Path, str]] = [(root / name, name) for name in TOP_FILES if (root / name).is_file()]
    for top in TOP_DIRS:
        for path in sorted((root / top).rglob("*")):
            parts = path.relative_to(root).parts
            rel = "/".join(parts)
            if (path.is_file() and not SKIP_DIRS.intersection(parts) and not any(p.startswith(".") for p in parts)
                    and not rel.endswith(SKIP_SUFFIXES) and rel not in SKIP_FILES and path.name not in SKIP_FILES):
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
