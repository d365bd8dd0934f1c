"""What a tiled HFreqDiff run costs, in work units that time scales with: the band-megapixels the
network processes (its window per tile: the tile's output window plus its receptive field, per
pass, step and sample) and those the conditioning processes (the whole read window with the halo).
Front ends turn them into seconds with a machine's measured rates (plugin/estimate.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tiling import TileGrid, output_spans
from .method import tile_halo
from .pieces import GRID, NET_RADIUS, NETWORK_BAND_PIXELS, fitted_tile, network_area, piece_size, round_up
from .rates import CPU_SECONDS_PER_CONDITION_UNIT, CPU_SECONDS_PER_NETWORK_UNIT  # measured (see rates)


@dataclass(frozen=True)
class Work:
    network: float  # band-megapixels through the network, all passes, steps and samples
    condition: float  # band-megapixels of conditioning (per sample)

    def seconds(self, network_rate: float = CPU_SECONDS_PER_NETWORK_UNIT,
                condition_rate: float = CPU_SECONDS_PER_CONDITION_UNIT) -> float:
        return self.network * network_rate + self.condition * condition_rate


def tiled_work(height: int, width: int, bands: int, ratio: int, tile: int, passes: int = 1, steps: int = 1,
               samples: int = 1, network_pixels: int = NETWORK_BAND_PIXELS) -> Work:
    """The work of a run over a height x width PAN region (passes: 4 with the flip ensemble, else 1),
    on the grid the run plans (engine.tiling.grid_for: the tile fitted to the network's memory budget,
    no feathered overlap)."""
    h, w = max(ratio, height // ratio * ratio), max(ratio, width // ratio * ratio)
    halo = tile_halo(ratio)
    grid = TileGrid.plan(h, w, ratio, fitted_tile(tile, bands, ratio, network_pixels), halo, overlap=0)
    rows, cols = output_spans(grid.row_bounds, grid.overlap), output_spans(grid.col_bounds, grid.overlap)
    size = piece_size(bands, network_pixels)

    def net(span: int) -> int:  # the network window: output span plus the receptive field, on the 4 px grid
        return round_up(span + 2 * NET_RADIUS, GRID)

    net_area = sum(network_area(net(rb - ra), net(cb - ca), size) for ra, rb in rows for ca, cb in cols)
    read_area = sum(b - a + 2 * halo for a, b in rows) * sum(b - a + 2 * halo for a, b in cols)
    return Work(net_area * bands * passes * steps * samples / 1e6, read_area * bands * samples / 1e6)
