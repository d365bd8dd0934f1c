"""The PAN/MS misregistration check (engine.registration): known shifts are recovered, aligned
shared scenes measure the offsets their READMEs state, and fusing notes, warns and records it."""

import json

import numpy as np
import pytest
from osgeo import gdal
from scipy import ndimage

from padm_pansharpening.engine.demo import DEMO_SPECTRAL_BIAS, DEMO_SPECTRAL_WEIGHTS, demo_hrms
from padm_pansharpening.engine.padm.profile import degrade_band, mtf_guess_kernel
from padm_pansharpening.engine.pipeline import fuse_files
from padm_pansharpening.engine.raster.pair import open_pair
from padm_pansharpening.engine.registration import (
    WARN_LR_PX,
    Misregistration,
    measure_pair,
    measure_shift,
    read_misregistration,
)
from padm_pansharpening.engine.sensors import get_sensor

GE1 = get_sensor("GeoEye1")


def known_pair(dx: float, dy: float, size: int = 256, ratio: int = 4):
    """A synthetic pair whose MS is degraded by PADM's profile operator with shift (dx, dy) MS px."""
    hrms = demo_hrms(size, seed=3)
    pan = hrms @ np.array(DEMO_SPECTRAL_WEIGHTS) + DEMO_SPECTRAL_BIAS
    ms = np.stack([degrade_band(hrms[:, :, b], mtf_guess_kernel(g, ratio), ratio, dx, dy)
                   for b, g in enumerate(GE1.gains(4))], axis=2)
    return pan, ms


@pytest.mark.parametrize("shift", [(0.0, 0.0), (0.3, -0.2), (-0.45, 0.1), (1.3, 0.6)])
def test_a_known_shift_is_recovered(shift):
    pan, ms = known_pair(*shift)
    m = measure_shift(pan, ms, 4, GE1)
    assert abs(m.dx - shift[0]) < 0.05 and abs(m.dy - shift[1]) < 0.05, (m, shift)
    assert m.correlation > 0.99


def test_the_toolbox_decimation_phase_measures_an_eighth_of_a_pixel():
    """The Wald decimation keeps PAN pixel r*i + r//2: half a PAN pixel (1/8 MS px at ratio 4) after the
    block centre, in both axes — the demo scene and the WV2 Rio pair are made that way."""
    hrms = demo_hrms(256, seed=4)
    from padm_pansharpening.engine.degradation import decimate, mtf_filter

    pan = hrms @ np.array(DEMO_SPECTRAL_WEIGHTS)
    ms = decimate(mtf_filter(hrms, GE1.gains(4), 4), 4)
    m = measure_shift(pan, ms, 4, GE1)
    assert abs(m.dx - 0.125) < 0.02 and abs(m.dy - 0.125) < 0.02, m


def read_pair(pan, ms):
    pair = open_pair(pan, ms)
    try:
        p, m, _, _ = pair.read(0, 0, pair.height, pair.width)
        nominal = tuple(0.5 / pair.ratio if a.centred else 0.0 for a in (pair.cols, pair.rows))
        return p, m, pair.ratio, nominal
    finally:
        pair.close()


def test_a_real_ms_shifted_by_a_third_of_a_pixel_is_recovered(shared_data):
    d = shared_data / "landsat_oli_istanbul_geotiff"
    pan, ms, ratio, nominal = read_pair(d / "pan.tif", d / "ms.tif")
    sensor = get_sensor("Landsat8")
    base = measure_shift(pan, ms, ratio, sensor, nominal)
    for sx, sy in ((0.3, 0.0), (-0.2, 0.3)):
        # ndimage.shift moves the content by +s: the MS now holds the scene s MS px further along
        moved = np.stack([ndimage.shift(ms[:, :, b], (sy, sx), order=3, mode="nearest")
                          for b in range(ms.shape[2])], axis=2)
        m = measure_shift(pan, moved, ratio, sensor, nominal)
        assert abs((base.dx - m.dx) - sx) < 0.05 and abs((base.dy - m.dy) - sy) < 0.05, (base, m, sx, sy)


@pytest.mark.parametrize("folder, pan, ms, sensor, expected, tol", [
    # centre-aligned Landsat grids, registered by their geotransforms: zero
    ("landsat_oli_istanbul_geotiff", "pan.tif", "ms.tif", "Landsat8", (0.0, 0.0), 0.05),
    # the toolbox's reduced-resolution pair: MS decimated at r//2, PAN by imresize (block centres)
    ("wv2_rio_rr_geotiff", "WV2RioPAN.tif", "WV2RioMSLR.tif", "WV2", (0.125, 0.125), 0.05),
    # a real misregistration, the one PADM's `degradation` learns there (dx -0.04..-0.02, dy +0.37..+0.38)
    ("wv3_hpf_geotiff", "pan.tif", "mul.tif", "WV3", (-0.03, 0.375), 0.05),
])
def test_shared_scenes_measure_their_known_offsets(shared_data, folder, pan, ms, sensor, expected, tol):
    pair = open_pair(shared_data / folder / pan, shared_data / folder / ms)
    try:
        m = measure_pair(pair, get_sensor(sensor))
    finally:
        pair.close()
    assert abs(m.dx - expected[0]) < tol and abs(m.dy - expected[1]) < tol, m
    assert m.exceeds() == (m.magnitude > WARN_LR_PX) and m.correlation > 0.99


def test_small_samples_are_not_measured():
    pan, ms = known_pair(0.0, 0.0, size=64)  # 16 x 16 MS px
    assert measure_shift(pan, ms, 4, GE1) is None


def test_the_note_warns_above_the_threshold():
    calm = Misregistration(0.05, -0.1, 4, 0.99, 0.98, 1000)
    bad = Misregistration(0.0, WARN_LR_PX + 0.01, 4, 0.99, 0.98, 1000)
    assert not calm.exceeds() and not calm.note().startswith("warning:")
    assert bad.exceeds() and bad.note().startswith("warning:") and "+0.84 PAN px" in bad.note()
    record = bad.as_record()
    assert record["dy_ms_px"] == pytest.approx(0.21) and record["dy_pan_px"] == pytest.approx(0.84)


def test_fusing_notes_warns_and_records_the_misregistration(shared_data, tmp_path):
    d = shared_data / "wv3_hpf_geotiff"
    res = fuse_files(d / "pan.tif", d / "mul.tif", tmp_path / "wv3.tif", method="exp", sensor="WV3")
    warnings = [n for n in res.notes if n.startswith("warning: PAN/MS misregistration")]
    assert len(warnings) == 1, res.notes
    record = read_misregistration(gdal.Open(str(res.out_path)).GetMetadata())
    assert abs(record["dy_ms_px"] - 0.375) < 0.05 and record["dy_pan_px"] == pytest.approx(4 * record["dy_ms_px"],
                                                                                            abs=0.01)
    assert set(record) >= {"dx_ms_px", "dy_ms_px", "dx_pan_px", "dy_pan_px", "correlation"}

    d = shared_data / "landsat_oli_istanbul_geotiff"
    res = fuse_files(d / "pan.tif", d / "ms.tif", tmp_path / "l8.tif", method="exp", sensor="Landsat8")
    notes = [n for n in res.notes if "misregistration" in n]
    assert len(notes) == 1 and notes[0].startswith("PAN/MS misregistration measured"), res.notes
    md = gdal.Open(str(res.out_path)).GetMetadata()
    assert json.loads(md["PADM_MISREGISTRATION"])["magnitude_ms_px"] < 0.05


def test_info_checks_a_pair_without_fusing(shared_data, capsys):
    from padm_pansharpening.engine.cli import main

    d = shared_data / "wv3_hpf_geotiff"
    assert main(["info", "--pan", str(d / "pan.tif"), "--ms", str(d / "mul.tif")]) == 0
    out = capsys.readouterr().out
    assert "ratio 4" in out and "warning: PAN/MS misregistration measured" in out


def test_no_data_is_left_out():
    pan, ms = known_pair(0.3, -0.2)
    valid = np.ones(ms.shape[:2], bool)
    valid[10:30, 20:50] = False
    ms[~valid] = -9999.0
    pan[40:120, 80:200] = 0.0  # the PAN under those MS pixels: no-data too
    m = measure_shift(pan, ms, 4, GE1, valid=valid)
    assert abs(m.dx - 0.3) < 0.05 and abs(m.dy + 0.2) < 0.05, m
    assert measure_shift(pan, ms, 4, GE1, valid=np.zeros_like(valid)) is None


def test_flat_or_unrelated_pairs_are_not_measured():
    pan, ms = known_pair(0.0, 0.0)
    assert measure_shift(np.full_like(pan, 100.0), ms, 4, GE1) is None
    noise = np.random.default_rng(0).random(ms.shape)
    assert measure_shift(pan, noise, 4, GE1) is None
