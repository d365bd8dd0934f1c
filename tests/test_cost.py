"""The work model of a tiled HFreqDiff run (engine.hfreqdiff.cost), which the dock's estimate uses."""

from __future__ import annotations

import pytest

from padm_pansharpening.engine.hfreqdiff.cost import tiled_work
from padm_pansharpening.engine.hfreqdiff.method import NET_RADIUS, tile_halo
from padm_pansharpening.engine.hfreqdiff.pieces import fitted_tile


def test_one_tile_counts_the_network_window_and_the_read_window():
    w = tiled_work(512, 512, 4, 4, tile=512)
    assert w.network == pytest.approx((512 + 2 * NET_RADIUS) ** 2 * 4 / 1e6)
    assert w.condition == pytest.approx((512 + 2 * tile_halo(4)) ** 2 * 4 / 1e6)
    assert w.network < w.condition  # the network skips the halo beyond its receptive field


def test_work_scales_with_bands_passes_steps_samples_and_the_scene():
    base = tiled_work(1024, 1024, 4, 4, tile=512)
    eight = tiled_work(1024, 1024, 8, 4, tile=512).network  # smaller tiles for 8 bands (memory): more overlap
    assert 2 * base.network < eight < 3 * base.network
    assert tiled_work(1024, 1024, 4, 4, tile=512, passes=4).network == pytest.approx(4 * base.network)
    assert tiled_work(1024, 1024, 4, 4, tile=512, steps=2, samples=3).network == pytest.approx(6 * base.network)
    assert tiled_work(1024, 1024, 4, 4, tile=512, samples=3).condition == pytest.approx(3 * base.condition)
    big = tiled_work(4096, 4096, 4, 4, tile=512)
    assert 15 < big.network / base.network < 18  # 16x the area, plus the windows of more tiles
    assert tiled_work(1024, 1024, 4, 4, tile=256).network > base.network  # smaller tiles waste more
    # a tile larger than the network's memory budget allows is planned at the budget's size
    assert tiled_work(1024, 1024, 4, 4, tile=4096).network == tiled_work(1024, 1024, 4, 4, tile=fitted_tile(4096, 4, 4)).network
