"""PAlignNet: a light alignment/fusion network (torch) mapping (LRMS, PAN) to an HRMS estimate
aligned with the PAN.

HRMS_b = bicubic upsampling of LRMS_b, sampled at a learned per-band sub-pixel offset
           + a small CNN residual that injects PAN detail.
The upsampling puts LR pixel i on PAN coordinate r*i + (r-1)/2 (the block centre, as in
:mod:`.profile`) and samples LR coordinate (p - (r-1)/2)/r + offset_b, so an MS band whose
samples are shifted by s_b (profile convention) is aligned by offset_b = -s_b. The same network
serves both scales (full: LRMS + PAN, learned offsets; reduced: degraded LRMS + degraded PAN,
where the offsets are known and passed in). Inputs and outputs
are in digital numbers; the network works on per-band standardised values.
"""

from __future__ import annotations

from typing import Optional

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F


class PAlignNet(nn.Module):
    def __init__(self, n_bands: int, ratio: int, ms_mean: np.ndarray, ms_std: np.ndarray, pan_mean: float,
                 pan_std: float, width: int = 32, depth: int = 3):
        super().__init__()
        self.n_bands, self.ratio = int(n_bands), int(ratio)
        t = lambda a: torch.tensor(np.asarray(a, dtype=np.float64), dtype=torch.float32)  # noqa: E731
        self.register_buffer("ms_mean", t(ms_mean).reshape(1, -1, 1, 1))
        self.register_buffer("ms_std", t(ms_std).reshape(1, -1, 1, 1))
        self.register_buffer("pan_mean", t(pan_mean).reshape(1, 1, 1, 1))
        self.register_buffer("pan_std", t(pan_std).reshape(1, 1, 1, 1))
        self.offset = nn.Parameter(torch.zeros(n_bands, 2))  # [dx, dy] in input LR pixels
        layers: list[nn.Module] = []
        ch = 2 * n_bands + 2  # upsampled MS, PAN, PAN detail, PAN detail x per-band gain proxy
        for _ in range(depth - 1):
            layers += [nn.Conv2d(ch, width, 3, padding=1, padding_mode="replicate"), nn.LeakyReLU(0.1)]
            ch = width
        last = nn.Conv2d(ch, n_bands, 3, padding=1, padding_mode="replicate")
        nn.init.zeros_(last.weight)
        nn.init.zeros_(last.bias)
        self.cnn = nn.Sequential(*layers, last)
        self.gain = nn.Parameter(torch.zeros(1, n_bands, 1, 1))  # direct PAN-detail injection

    def upsample(self, ms_n: torch.Tensor, out_hw: tuple[int, int], offset: torch.Tensor) -> torch.Tensor:
        """Standardised LRMS (N, B, h, w) -> (N, B, H, W), bicubic, at the per-band offsets."""
        n, b, h, w = ms_n.shape
        hh, ww = out_hw
        r = self.ratio
        py = (torch.arange(hh, dtype=ms_n.dtype) - (r - 1) / 2) / r  # LR coordinate of each PAN row
        px = (torch.arange(ww, dtype=ms_n.dtype) - (r - 1) / 2) / r
        u = px[None, None, :] + offset[:, 0, None, None]  # (B, 1, W)
        v = py[None, :, None] + offset[:, 1, None, None]  # (B, H, 1)
        gx = ((2 * u + 1) / w - 1).expand(b, hh, ww)  # align_corners=False normalisation
        gy = ((2 * v + 1) / h - 1).expand(b, hh, ww)
        grid = torch.stack([gx, gy], dim=-1)  # (B, H, W, 2)
        x = ms_n.transpose(0, 1).reshape(b, n, h, w)  # bands to the batch axis: one grid each
        up = F.grid_sample(x, grid, mode="bicubic", padding_mode="border", align_corners=False)
        return up.reshape(b, n, hh, ww).transpose(0, 1)

    def upsample_dn(self, ms_lr: torch.Tensor, out_hw: tuple[int, int], offset: torch.Tensor) -> torch.Tensor:
        """The upsampling branch alone, in DN."""
        ms_n = (ms_lr - self.ms_mean) / self.ms_std
        return self.upsample(ms_n, out_hw, offset) * self.ms_std + self.ms_mean

    def forward(self, ms_lr: torch.Tensor, pan: torch.Tensor, offset: Optional[torch.Tensor] = None) -> torch.Tensor:
        """(N, B, h, w) and (N, 1, h*r, w*r) in DN -> (N, B, h*r, w*r); ``offset`` (B, 2) replaces the
        learned one (reduced-scale pairs, whose misregistration is known)."""
        ms_n = (ms_lr - self.ms_mean) / self.ms_std
        pan_n = (pan - self.pan_mean) / self.pan_std
        up = self.upsample(ms_n, pan.shape[-2:], self.offset if offset is None else offset)
        r = self.ratio
        pan_low = F.interpolate(F.avg_pool2d(pan_n, r), scale_factor=r, mode="bilinear", align_corners=False)
        detail = pan_n - pan_low
        feats = torch.cat([up, pan_n.expand_as(up[:, :1]), detail, up * detail.abs()], dim=1)
        out = up + self.gain * detail + self.cnn(feats)
        return out * self.ms_std + self.ms_mean
