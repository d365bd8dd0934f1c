"""engine.tiling: grid, reflection padding, feathered blending, tiling invariance, bounded reads."""

from __future__ import annotations


import numpy as np
import pytest
from scipy import ndimage

from padm_pansharpening.engine import tiling
from padm_pansharpening.engine.errors import Cancelled


def upsample(ms: np.ndarray, r: int) -> np.ndarray:
    return np.repeat(np.repeat(ms, r, axis=0), r, axis=1)


class Pointwise:
    """Brovey-like pointwise method with a scene-wide constant from fit."""

    name = "pointwise"

    def halo(self, ratio: int) -> int:
        return 0

    def fit(self, pan, ms_lr, ratio, sensor) -> None:
        self.scale = float(ms_lr.mean()) / float(pan.mean())
        self.fit_shape = pan.shape

    def fuse_tile(self, pan, ms_lr, ratio, origin):
        up = upsample(ms_lr, ratio)
        return up * (pan * self.scale / (up.mean(axis=-1) + 1.0))[..., None]


class Spatial:
    """MS (nearest) plus the PAN's high-pass from a box filter of half-width k; support within the halo."""

    name = "spatial"

    def __init__(self, k: int = 5, declared_halo: int | None = None):
        self.k = k
        self.declared = declared_halo if declared_halo is not None else k + 1

    def halo(self, ratio: int) -> int:
        return self.declared

    def fit(self, pan, ms_lr, ratio, sensor) -> None:
        pass

    def fuse_tile(self, pan, ms_lr, ratio, origin):
        blur = ndimage.uniform_filter(pan, 2 * self.k + 1, mode="nearest")
        smooth_ms = ndimage.uniform_filter(upsample(ms_lr, ratio), (2 * self.k + 1, 2 * self.k + 1, 1), mode="nearest")
        return smooth_ms + (pan - blur)[..., None]


class TileOffset:
    """Adds a constant that depends on the tile (like tile-dependent noise): the worst case for seams."""

    name = "offset"

    def halo(self, ratio: int) -> int:
        return 0

    def fit(self, pan, ms_lr, ratio, sensor) -> None:
        pass

    def fuse_tile(self, pan, ms_lr, ratio, origin):
        c = float(np.random.default_rng(abs(hash(origin)) % 2**32).uniform(-50, 50))
        return upsample(ms_lr, ratio) * 0 + c


def scene(h: int = 300, w: int = 236, r: int = 4, bands: int = 3, seed: int = 0):
    rng = np.random.default_rng(seed)
    ms = ndimage.gaussian_filter(rng.random((h // r, w // r, bands)) * 200, (1, 1, 0)) + 50
    pan = upsample(ms.mean(-1), r) + rng.normal(0, 5, (h, w))
    return pan, ms


def test_boundaries_and_overlap_cap():
    g = tiling.TileGrid.plan(300, 236, 4, tile=64, halo=6)
    for bounds, length in ((g.row_bounds, 300), (g.col_bounds, 236)):
        cores = np.diff(bounds)
        assert bounds[0] == 0 and bounds[-1] == length and all(b % 4 == 0 for b in bounds)
        assert cores.max() <= 64 and cores.min() >= 2 * g.overlap
    assert (g.halo, g.overlap, g.tile) == (8, 4, 64)
    single = tiling.TileGrid.plan(40, 40, 4, tile=512)
    assert single.n_tiles == 1 and single.row_bounds == (0, 40)


@pytest.mark.parametrize("tile", [16, 40, 64, 128])
def test_weights_sum_to_one(tile):
    """A method returning 1 everywhere gives exactly 1 after blending, for any grid."""

    class Ones(Pointwise):
        def fuse_tile(self, pan, ms_lr, ratio, origin):
            return np.ones(pan.shape + (ms_lr.shape[2],))

    pan, ms = scene(132, 100)
    out = tiling.fuse_array(pan, ms, Ones(), 4, tile=tile, overlap=12)
    np.testing.assert_allclose(out, 1.0, rtol=0, atol=1e-12)


def test_pointwise_is_tiling_invariant():
    pan, ms = scene()
    outs = [tiling.fuse_array(pan, ms, Pointwise(), 4, tile=t) for t in (64, 128, 100000)]
    for o in outs[1:]:
        np.testing.assert_allclose(o, outs[0], rtol=0, atol=1e-9)
    # and equal to the method applied to the whole scene in one call
    m = Pointwise()
    m.fit(pan, ms, 4, None)
    np.testing.assert_allclose(outs[0], m.fuse_tile(pan, ms, 4, (0, 0)), rtol=0, atol=1e-9)


def test_spatial_method_has_no_seams():
    """Support within the halo: tiles reproduce the whole-scene (reflection-padded) result exactly."""
    pan, ms = scene()
    whole = tiling.fuse_array(pan, ms, Spatial(), 4, tile=100000)
    for t in (32, 64, 128):
        np.testing.assert_allclose(tiling.fuse_array(pan, ms, Spatial(), 4, tile=t), whole, rtol=0, atol=1e-9)
    # the check can fail: an under-declared halo shows up at the tile boundaries
    wrong = tiling.fuse_array(pan, ms, Spatial(k=5, declared_halo=0), 4, tile=64, overlap=0)
    assert np.abs(wrong - whole).max() > 1.0


def test_whole_scene_is_padded_by_reflection():
    """The single-tile run pads the region symmetrically by the halo, as the tiles do at borders."""
    pan, ms = scene(64, 64)
    seen = {}

    class Record(Spatial):
        def fuse_tile(self, pan_t, ms_t, ratio, origin):
            seen["pan"], seen["ms"], seen["origin"] = pan_t, ms_t, origin
            return super().fuse_tile(pan_t, ms_t, ratio, origin)

    tiling.fuse_array(pan, ms, Record(k=5), 4, tile=512)
    np.testing.assert_array_equal(seen["pan"], np.pad(pan, 8, mode="symmetric"))
    np.testing.assert_array_equal(seen["ms"], np.pad(ms, ((2, 2), (2, 2), (0, 0)), mode="symmetric"))
    assert seen["origin"] == (-8, -8)


def test_feathering_smooths_tile_dependent_output():
    """Tile-dependent offsets: with feathering the largest step between neighbours is the offset
    difference spread over the ramp; without overlap it is the full jump."""
    pan, ms = scene(256, 256)
    feathered = tiling.fuse_array(pan, ms, TileOffset(), 4, tile=64, overlap=16)[..., 0]
    cropped = tiling.fuse_array(pan, ms, TileOffset(), 4, tile=64, overlap=0)[..., 0]
    step = lambda a: max(np.abs(np.diff(a, axis=0)).max(), np.abs(np.diff(a, axis=1)).max())  # noqa: E731
    assert step(cropped) > 10
    assert step(feathered) <= 100 / 32 + 1e-9  # |c1 - c2| <= 100 over 2*16 pixels


class CountingSource(tiling.ArraySource):
    def __init__(self, *a):
        super().__init__(*a)
        self.max_read = 0

    def read(self, r0, c0, h, w):
        self.max_read = max(self.max_read, h * w)
        return super().read(r0, c0, h, w)


def test_reads_are_bounded_by_tile_size():
    pan, ms = scene(512, 512)
    src = CountingSource(pan, ms, 4)
    method = Spatial()
    grid = tiling.TileGrid.plan(512, 512, 4, tile=64, halo=method.halo(4))
    written = np.zeros(pan.shape, bool)

    def write(r0, c0, values, valid):
        assert not written[r0:r0 + values.shape[0], c0:c0 + values.shape[1]].any()  # each pixel once
        written[r0:r0 + values.shape[0], c0:c0 + values.shape[1]] = True

    tiling.fuse_tiles(src, method, grid, write, (0.0, np.zeros(3)))
    assert written.all()
    side = 64 + 2 * (grid.overlap + grid.halo)
    assert src.max_read <= side * side < pan.size / 20


def test_fit_sample_is_central_crop():
    assert tiling.central_window(1000, 600, 4) == (0, 0, 1000, 600)
    assert tiling.central_window(5000, 3001, 3, size=2048) == (1476, 477, 2046, 2046)
    pan, ms = scene(120, 80)
    m = Pointwise()
    tiling.fuse_array(pan, ms, m, 4, tile=32)
    assert m.fit_shape == (120, 80)


def test_nodata_is_filled_and_masked():
    pan, ms = scene(64, 64)
    pan[10:14, 20:30] = np.nan
    ms[5, 5, 1] = np.nan
    out = tiling.fuse_array(pan, ms, Spatial(), 4, tile=32)
    bad = np.isnan(out[..., 0])
    expected = np.isnan(pan) | upsample(np.isnan(ms).any(-1), 4)
    np.testing.assert_array_equal(bad, expected)
    assert np.isfinite(out[~expected]).all()


def test_cancel():
    pan, ms = scene(128, 128)
    calls = []

    def cancelled():
        calls.append(1)
        return len(calls) > 3

    grid = tiling.TileGrid.plan(128, 128, 4, tile=32)
    m = Pointwise()
    m.fit(pan, ms, 4, None)
    with pytest.raises(Cancelled):
        tiling.fuse_tiles(tiling.ArraySource(pan, ms, 4), m, grid, lambda *a: None, (0.0, np.zeros(3)),
                          is_cancelled=cancelled)
    assert len(calls) == 4
