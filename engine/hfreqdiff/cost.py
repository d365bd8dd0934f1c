"""What a tiled HFreqDiff run costs, in work units that time scales with: the band-megapixels the
network processes (its window per tile: the tile's output window plus its receptive field, per
pass, step and sample) and those the conditioning processes (the whole read window with the halo).
Front ends turn them into seconds with a machine's measured rates (plugin/estimate.py)."""

from __future__ import annotations

from dataclasses import dataclass

from ..tiling import TileGrid, output_spans
from .method import GRID, NET_RADIUS, tile_halo
from .rates import CPU_SECONDS_PER_CONDITION_UNIT, CPU_SECONDS_PER_NETWORK_UNIT  # measured (see rates)


@dataclass(frozen=True)
class Work:
    network: float  # band-megapixels through the network, all passes, steps and samples
    condition: float  # band-megapixels of conditioning (per sample)

    def seconds(self, network_rate: float = CPU_SECONDS_PER_NETWORK_UNIT,
                condition_rate: float = CPU_SECONDS_PER_CONDITION_UNIT) -> float:
        return self.network * network_rate + self.condition * condition_rate


def tiled_work(height: int, width: int, bands: int, ratio: int, tile: int, passes: int = 1, steps: int = 1,
               samples: int = 1) -> Work:
    """The work of a run over a height x width PAN region (passes: 4 with the flip ensemble, else 1)."""
    h, w = max(ratio, height // ratio * ratio), max(ratio, width // ratio * ratio)
    halo = tile_halo(ratio)
    grid = TileGrid.plan(h, w, ratio, tile, halo)
    rows, cols = output_spans(grid.row_bounds, grid.overlap), output_spans(grid.col_bounds, grid.overlap)

    def net(span: int) -> int:  # the network window: output span plus the receptive field, on the 4 px grid
        return -(-(span + 2 * NET_RADIUS) // GRID) * GRID

    net_area = sum(net(b - a) for a, b in rows) * sum(net(b - a) for a, b in cols)
    read_area = sum(b - a + 2 * halo for a, b in rows) * sum(b - a + 2 * halo for a, b in cols)
    return Work(net_area * bands * passes * steps * samples / 1e6, read_area * bands * samples / 1e6)
