"""`batch` and `fuse --scheduler` on real multi-process Dask clusters (issue 18): outputs equal to
`fuse`, bad scenes reported while the others finish, reruns that do no work, a worker killed
mid-batch, one scene split over two workers, Ctrl-C, and usage errors."""

from __future__ import annotations

import hashlib
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from osgeo import gdal

pytest.importorskip("distributed")

from padm_pansharpening.engine.batch.chunks import chunk_plan  # noqa: E402
from padm_pansharpening.engine.pipeline import fuse_files  # noqa: E402

ROOT = Path(__file__).resolve().parents[1]


def cli(*args: str, cwd: Path, timeout: int = 600, **kw) -> subprocess.CompletedProcess:
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", PYTHONDONTWRITEBYTECODE="1")
    return subprocess.run([sys.executable, "-m", "padm_pansharpening", *args], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=timeout, **kw)


def crop(src_pan: Path, src_ms: Path, folder: Path, name: str, size: int, offset: int = 0) -> tuple[Path, Path]:
    """A size x size PAN crop of a shared scene and the MS of the same area (GeoTIFFs in folder)."""
    pan_ds, ms_ds = gdal.Open(str(src_pan)), gdal.Open(str(src_ms))
    r = round(ms_ds.GetGeoTransform()[1] / pan_ds.GetGeoTransform()[1])
    pan, ms = folder / f"{name}_pan.tif", folder / f"{name}_ms.tif"
    gdal.Translate(str(pan), pan_ds, srcWin=[offset, offset, size, size])
    gdal.Translate(str(ms), ms_ds, srcWin=[offset // r, offset // r, size // r, size // r])
    return pan, ms


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def pixels(path: Path) -> np.ndarray:
    return gdal.Open(str(path)).ReadAsArray()


@pytest.fixture(scope="module")
def scenes(shared_data, tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    folder = tmp_path_factory.mktemp("inputs")
    return {
        "zz": crop(shared_data / "vhr4b_zhengzhou_geotiff" / "pan.tif", shared_data / "vhr4b_zhengzhou_geotiff" / "ms.tif",
                   folder, "zz", 384),
        "l8": (shared_data / "landsat_oli_istanbul_geotiff" / "pan.tif", shared_data / "landsat_oli_istanbul_geotiff" / "ms.tif"),
        "wv3": crop(shared_data / "wv3_hpf_geotiff" / "pan.tif", shared_data / "wv3_hpf_geotiff" / "mul.tif",
                    folder, "wv3", 256, 64),
    }


def write_manifest(path: Path, rows: list[tuple]) -> Path:
    lines = ["pan,ms,out,method,bands"] + [",".join(f'"{v}"' if "," in str(v) else str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def test_chunk_plan_covers_every_tile_row_once():
    assert chunk_plan(4, 2) == [(0, 2), (2, 4)]
    assert chunk_plan(5, 3) == [(0, 2), (2, 3), (3, 5)]
    assert chunk_plan(2, 8) == [(0, 1), (1, 2)]
    assert chunk_plan(1, 2) == [(0, 1)]


def test_local_cluster_batch_matches_fuse_reports_the_bad_scene_and_reruns_without_work(scenes, tmp_path):
    (zz_pan, zz_ms), (l8_pan, l8_ms), (wv_pan, wv_ms) = scenes["zz"], scenes["l8"], scenes["wv3"]
    out = tmp_path / "out"
    out.mkdir()
    rows = [(zz_pan, zz_ms, "out/zz.tif", "hfreqdiff", ""),
            (l8_pan, l8_ms, "out/l8.tif", "", ""),
            (zz_pan, l8_ms, "out/bad.tif", "", ""),  # different CRS: a user error of this row
            (wv_pan, wv_ms, "out/wv3.tif", "mtf-glp-hpm", "5,3,2")]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    r = cli("batch", "--manifest", str(manifest), "--workers", "2", "--ensemble", "none", "--tile", "256",
            "--report", "report.json", "--progress", "none", cwd=tmp_path)
    assert r.returncode == 1, r.stderr
    report = json.loads((tmp_path / "report.json").read_text())
    status = {Path(s["out"]).name: s for s in report["scenes"]}
    assert report["summary"] == {"done": 3, "skipped": 0, "failed": 1} and report["workers"] == 2
    assert "EPSG" in status["bad.tif"]["error"] and "\n" not in status["bad.tif"]["error"]
    assert status["zz.tif"]["provider"].startswith("onnxruntime") and status["zz.tif"]["worker"].startswith("tcp://")
    assert not (out / "bad.tif").exists() and not list(out.glob(".*"))
    # the same outputs, byte for byte, as fuse makes them one by one
    ref = tmp_path / "ref"
    ref.mkdir()
    for name, pan, ms, extra in (("zz.tif", zz_pan, zz_ms, ["--method", "hfreqdiff", "--ensemble", "none"]),
                                 ("l8.tif", l8_pan, l8_ms, []),
                                 ("wv3.tif", wv_pan, wv_ms, ["--method", "mtf-glp-hpm", "--bands", "5,3,2"])):
        r = cli("fuse", "--pan", str(pan), "--ms", str(ms), "--out", str(ref / name), "--tile", "256", *extra,
                "--progress", "none", cwd=tmp_path)
        assert r.returncode == 0, r.stderr
    for name in ("zz.tif", "l8.tif", "wv3.tif"):
        assert digest(out / name) == digest(ref / name), name
    # a rerun does no work for the done scenes and tries the bad one again
    stamps = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    r = cli("batch", "--manifest", str(manifest), "--workers", "2", "--ensemble", "none", "--tile", "256",
            "--report", "report.json", "--progress", "none", cwd=tmp_path)
    assert r.returncode == 1
    assert json.loads((tmp_path / "report.json").read_text())["summary"] == {"done": 0, "skipped": 3, "failed": 1}
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == stamps
    # other parameters: the scene is done again
    r = cli("batch", "--manifest", str(manifest), "--workers", "2", "--ensemble", "none", "--tile", "128",
            "--progress", "none", cwd=tmp_path)
    assert r.returncode == 1 and "3 done, 0 already done, 1 failed" in r.stdout


def _start(cmd: list[str], log: Path) -> subprocess.Popen:
    return subprocess.Popen(cmd, stdout=open(log, "w"), stderr=subprocess.STDOUT, start_new_session=True,
                            env=dict(os.environ, PADM_THREADS="1", PYTHONDONTWRITEBYTECODE="1"))


@pytest.fixture()
def external_cluster(tmp_path):
    """A `dask scheduler` and two `dask worker` processes (no nanny: a killed worker stays dead) on 127.0.0.1."""
    dask = str(Path(sys.executable).with_name("dask"))
    port = 30000 + os.getpid() % 20000
    address = f"tcp://127.0.0.1:{port}"
    procs = [_start([dask, "scheduler", "--host", "127.0.0.1", "--port", str(port), "--no-dashboard"],
                    tmp_path / "scheduler.log")]
    time.sleep(2)
    procs += [_start([dask, "worker", address, "--nthreads", "1", "--no-nanny", "--no-dashboard",
                      "--name", f"w{k}"], tmp_path / f"worker{k}.log") for k in range(2)]
    from distributed import Client

    with Client(address, timeout="30s") as client:
        client.wait_for_workers(2, timeout=60)
    yield address, procs[1:]
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
        p.wait()


def test_a_worker_killed_mid_batch_the_batch_still_completes_with_the_same_outputs(scenes, tmp_path,
                                                                                  external_cluster):
    address, workers = external_cluster
    zz_pan, zz_ms = scenes["zz"]
    rows = [(zz_pan, zz_ms, f"out/zz{k}.tif", "hfreqdiff", "") for k in range(4)]
    manifest = write_manifest(tmp_path / "m.csv", rows)
    (tmp_path / "out").mkdir()
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    batch = subprocess.Popen([sys.executable, "-m", "padm_pansharpening", "batch", "--manifest", str(manifest),
                              "--scheduler", address, "--ensemble", "none", "--tile", "256", "--progress", "none",
                              "--report", str(tmp_path / "report.json")], cwd=tmp_path, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list((tmp_path / "out").glob(".zz*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert list((tmp_path / "out").glob(".zz*.part")), "no scene started"
    os.killpg(workers[0].pid, signal.SIGKILL)  # one worker dies while scenes are being written
    stdout, stderr = batch.communicate(timeout=600)
    assert batch.returncode == 0, stderr
    report = json.loads((tmp_path / "report.json").read_text())
    assert report["summary"] == {"done": 4, "skipped": 0, "failed": 0}
    ref = tmp_path / "ref.tif"
    fuse_files(zz_pan, zz_ms, ref, "hfreqdiff", tile=256, method_options={"ensemble": "none"})
    for k in range(4):
        assert np.array_equal(pixels(tmp_path / "out" / f"zz{k}.tif"), pixels(ref))
    assert not list((tmp_path / "out").glob(".*"))  # the dead worker's partial file was removed


def test_one_scene_split_over_two_workers_equals_fuse(shared_data, tmp_path, external_cluster):
    """A 2048 x 2048 PAN scene (the Zhengzhou scene mirrored up to that size), split by tile rows."""
    address, _ = external_cluster
    src_pan = gdal.Open(str(shared_data / "vhr4b_zhengzhou_geotiff" / "pan.tif")).ReadAsArray()[:512, :512]
    src_ms = gdal.Open(str(shared_data / "vhr4b_zhengzhou_geotiff" / "ms.tif")).ReadAsArray()[:, :128, :128]
    pan = np.block([[src_pan, src_pan[:, ::-1]], [src_pan[::-1], src_pan[::-1, ::-1]]])
    pan = np.block([[pan, pan[:, ::-1]], [pan[::-1], pan[::-1, ::-1]]])
    ms = np.concatenate([np.concatenate([src_ms, src_ms[:, :, ::-1]], 2),
                         np.concatenate([src_ms[:, ::-1], src_ms[:, ::-1, ::-1]], 2)], 1)
    ms = np.concatenate([np.concatenate([ms, ms[:, :, ::-1]], 2), np.concatenate([ms[:, ::-1], ms[:, ::-1, ::-1]], 2)], 1)
    assert pan.shape == (2048, 2048) and ms.shape == (4, 512, 512)
    paths = []
    for name, arr, px in (("pan", pan[None], 0.5), ("ms", ms, 2.0)):
        ds = gdal.GetDriverByName("GTiff").Create(str(tmp_path / f"{name}.tif"), arr.shape[2], arr.shape[1],
                                                  arr.shape[0], gdal.GDT_UInt16)
        ds.SetGeoTransform((500000.0, px, 0.0, 4000000.0, 0.0, -px))
        ds.SetProjection(gdal.Open(str(shared_data / "vhr4b_zhengzhou_geotiff" / "pan.tif")).GetProjection())
        for b in range(arr.shape[0]):
            ds.GetRasterBand(b + 1).WriteArray(arr[b])
        ds = None
        paths.append(tmp_path / f"{name}.tif")
    r = cli("fuse", "--pan", str(paths[0]), "--ms", str(paths[1]), "--out", "split.tif", "--method", "mtf-glp-hpm",
            "--scheduler", address, "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert "2 chunks on 2 workers" in r.stdout
    fuse_files(paths[0], paths[1], tmp_path / "ref.tif", "mtf-glp-hpm")
    assert np.array_equal(pixels(tmp_path / "split.tif"), pixels(tmp_path / "ref.tif"))
    assert not list(tmp_path.glob(".*"))


def test_hfreqdiff_split_into_chunks_equals_fuse(scenes, tmp_path, external_cluster):
    address, _ = external_cluster
    zz_pan, zz_ms = scenes["zz"]
    r = cli("fuse", "--pan", str(zz_pan), "--ms", str(zz_ms), "--out", "split.tif", "--method", "hfreqdiff",
            "--ensemble", "none", "--tile", "128", "--chunks", "3", "--scheduler", address, "--progress", "none",
            cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    fuse_files(zz_pan, zz_ms, tmp_path / "ref.tif", "hfreqdiff", tile=128, method_options={"ensemble": "none"})
    assert np.array_equal(pixels(tmp_path / "split.tif"), pixels(tmp_path / "ref.tif"))


def _terminal_ctrl_c() -> None:
    """In the child before exec: SIGINT neither ignored nor blocked, as from a terminal, whatever the
    test process carries (in the full suite the batch once ran to the end, the signal not delivered)."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGINT})


def test_ctrl_c_leaves_no_partial_file(scenes, tmp_path):
    zz_pan, zz_ms = scenes["zz"]
    manifest = write_manifest(tmp_path / "m.csv", [(zz_pan, zz_ms, f"zz{k}.tif", "hfreqdiff", "") for k in range(3)])
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    batch = subprocess.Popen([sys.executable, "-m", "padm_pansharpening", "batch", "--manifest", str(manifest),
                              "--workers", "2", "--progress", "none", "--quality", "best", "--steps", "4"], cwd=tmp_path, env=env,
                             preexec_fn=_terminal_ctrl_c,
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 120
    while not list(tmp_path.glob(".zz*.part")) and time.monotonic() < deadline:
        time.sleep(0.1)
    time.sleep(0.5)  # a scene is being written (16 network passes a tile): the cluster is up, the parent waits
    batch.send_signal(signal.SIGINT)
    _, stderr = batch.communicate(timeout=120)
    assert batch.returncode == 130 and "cancelled" in stderr, stderr
    assert not list(tmp_path.glob(".*"))  # no partial file; an output that exists was completed
    for out in tmp_path.glob("zz*.tif"):
        assert gdal.Open(str(out)).GetMetadataItem("PADM_REQUEST")


@pytest.mark.parametrize("content,message", [
    (None, "does not exist"),
    ("pan,ms\na.tif,b.tif\n", "no column out"),
    ("pan,ms,out\na.tif,b.tif,o.tif\nc.tif,d.tif,o.tif\n", "write the same output"),
    ("pan,ms,out,colour\na.tif,b.tif,o.tif,red\n", "unknown column"),
])
def test_usage_errors_exit_2_with_one_line(tmp_path, content, message):
    manifest = tmp_path / "m.csv"
    if content is not None:
        manifest.write_text(content)
    r = cli("batch", "--manifest", str(manifest), "--progress", "none", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and message in r.stderr and r.stderr.count("\n") == 1, r.stderr


def test_a_folder_pattern_with_a_pairing_rule(shared_data, tmp_path):
    """--glob/--pair/--out-dir instead of a manifest: PANs by pattern, each MS by a name rule; the
    shared pan.tif stems get their folder's name."""
    from padm_pansharpening.engine.batch.manifest import scenes_from_pattern

    jobs = scenes_from_pattern(str(shared_data / "*" / "pan.tif"), "pan=ms", tmp_path)
    names = {j.out.name for j in jobs}
    assert "landsat_oli_istanbul_geotiff_pan_fused.tif" in names and "vhr4b_zhengzhou_geotiff_pan_fused.tif" in names
    zz = next(j for j in jobs if j.pan.parent.name == "vhr4b_zhengzhou_geotiff")
    assert zz.ms == shared_data / "vhr4b_zhengzhou_geotiff" / "ms.tif"
    r = cli("batch", "--glob", str(shared_data / "landsat_oli_istanbul_geotiff" / "pan.tif"), "--pair", "pan=ms",
            "--out-dir", str(tmp_path / "out"), "--workers", "1", "--progress", "none", cwd=tmp_path)
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "out" / "pan_fused.tif").exists()
    r = cli("batch", "--glob", str(tmp_path / "*.nothing"), "--pair", "pan=ms", "--out-dir", str(tmp_path),
            "--progress", "none", cwd=tmp_path, timeout=120)
    assert r.returncode == 2 and "No file matches" in r.stderr
