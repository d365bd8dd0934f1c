"""Bounded network memory (engine.hfreqdiff.pieces): pieces on the network's grid, stitched to the
result of one call, tiles fitted to the budget, and the peak RSS of a default 8-band run."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest

from padm_pansharpening.engine.hfreqdiff.method import HFreqDiffMethod
from padm_pansharpening.engine.hfreqdiff.pieces import (GRID, NET_RADIUS, NETWORK_BAND_PIXELS, fitted_tile,
                                                        piece_size, spans, windows)
from padm_pansharpening.engine.sensors import get_sensor

from .hfreqdiff_helpers import synthetic_scene


@pytest.mark.parametrize("length,size", [(64, 32), (448, 368), (640, 320), (1000, 128), (4096, 568)])
def test_pieces_cover_the_array_on_the_grid_within_the_budget(length, size):
    covered = []
    for w0, w1, a, b in windows(length, size):
        assert w0 % GRID == 0 and a % GRID == 0 and 0 <= w0 <= a < b <= w1 <= length
        assert w1 - w0 <= size + 2 * NET_RADIUS  # the window with its context stays within one piece's budget
        assert a - w0 == min(a, NET_RADIUS) and w1 - b == min(length - b, NET_RADIUS)
        covered += range(a, b)
    assert covered == list(range(length))
    assert len(spans(length, size)) == max(1, -(-(length - 2 * NET_RADIUS) // size))


@pytest.mark.parametrize("bands", [3, 4, 5, 6, 7, 8])
@pytest.mark.parametrize("ratio", [2, 3, 4])
def test_fitted_tile_is_one_piece_on_the_grid(bands, ratio):
    tile = fitted_tile(4096, bands, ratio)
    assert tile % ratio == 0 and tile % GRID == 0
    assert bands * (tile + 2 * GRID + 2 * NET_RADIUS) ** 2 <= NETWORK_BAND_PIXELS
    assert tile + 2 * GRID <= piece_size(bands)
    assert fitted_tile(128, bands, ratio) == 128  # a smaller tile asked is kept
    assert fitted_tile(512, 4, 4) == 512  # the default tile of a 4-band scene is not cut


def test_pieced_network_equals_one_call():
    """The shipped model on a 5-band 448 px tile: pieces of a small budget give the one-call result
    to float32 rounding (the network's influence beyond its context, NET_RADIUS, is negligible)."""
    pan, ms = synthetic_scene(4, 112, 112, 5, seed=2)
    whole = HFreqDiffMethod(quality="fast", device="cpu")
    pieced = HFreqDiffMethod(quality="fast", device="cpu", network_pixels=5 * (96 + 2 * NET_RADIUS) ** 2)
    out = []
    for m in (whole, pieced):
        m.fit(pan, ms, 4, get_sensor("none"))
        out.append(m.fuse_tile(pan, ms, 4, (0, 0)))
    calls = []
    spy = HFreqDiffMethod(denoiser=lambda x, t, c: calls.append(x.shape) or np.zeros_like(x), quality="fast",
                          network_pixels=5 * (96 + 2 * NET_RADIUS) ** 2)
    spy.fit(pan, ms, 4, get_sensor("none"))
    spy.fuse_tile(pan, ms, 4, (0, 0))
    assert len(calls) == 16 and all(s[1] == 5 and s[2] <= 96 + 2 * NET_RADIUS for s in calls)  # 4 x 4 pieces
    np.testing.assert_allclose(out[1], out[0], rtol=0, atol=0.01)  # DN (values ~100-900)


def test_default_8_band_run_peak_memory(tmp_path, shared_data):
    """A default HFreqDiff run of an 8-band scene, 768 x 768 PAN (the real WorldView-3 scene mirrored),
    stays under 1.5 GB peak RSS (issue 14; lab/reports/presets.md has the larger scenes)."""
    from osgeo import gdal

    wv = shared_data / "wv3_hpf_geotiff"
    pan = gdal.Open(str(wv / "pan_uncompressed.tif")).ReadAsArray()[1:385, 2:386]
    ms = gdal.Open(str(wv / "mul_uncompressed.tif")).ReadAsArray()[:, :96, :96]
    paths = []
    for name, arr, px in (("pan", np.block([[pan, pan[:, ::-1]], [pan[::-1], pan[::-1, ::-1]]])[None], 0.5),
                          ("ms", np.concatenate([np.concatenate([ms, ms[:, :, ::-1]], 2),
                                                 np.concatenate([ms[:, ::-1], ms[:, ::-1, ::-1]], 2)], 1), 2.0)):
        path = tmp_path / f"{name}.tif"
        ds = gdal.GetDriverByName("GTiff").Create(str(path), arr.shape[2], arr.shape[1], arr.shape[0], gdal.GDT_Float32)
        ds.SetGeoTransform((500000.0, px, 0.0, 4000000.0, 0.0, -px))
        ds.SetProjection(gdal.Open(str(wv / "pan_uncompressed.tif")).GetProjection())
        for b in range(arr.shape[0]):
            ds.GetRasterBand(b + 1).WriteArray(arr[b])
        ds = None
        paths.append(path)
    # The run's peak RSS, taken by a small wrapper process: a child forked from this test process
    # starts with its RSS counted (Linux keeps the pre-exec high-water mark in ru_maxrss, so os.wait4
    # here reported the suite's own 1.51 GB once), the wrapper's child does not.
    wrapper = ("import resource, subprocess, sys; r = subprocess.run(sys.argv[1:]); "
               "print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss); sys.exit(r.returncode)")
    run = subprocess.run([sys.executable, "-c", wrapper, sys.executable, "-m", "padm_pansharpening", "fuse",
                          "--pan", str(paths[0]), "--ms", str(paths[1]), "--sensor", "WV3", "--method", "hfreqdiff",
                          "--progress", "none", "--out", str(tmp_path / "o.tif")], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    peak_kib = int(run.stdout.strip().splitlines()[-1])
    assert peak_kib < 1.5 * 2**20, f"peak RSS {peak_kib / 2**20:.2f} GB"  # measured 0.71 GiB (748 MB)
