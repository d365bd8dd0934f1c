"""HFreqDiff denoiser network (torch): a small band-aware U-Net that predicts the residual x0.

Bands are a set: every band is a stream folded into the batch axis with shared weights; it sees
its own noisy residual, its conditioning (MS_up_b, matched PAN detail, HPM-like detail), the PAN
conditioning and an embedding of (timestep, band descriptor[, the band's scene statistics]).
Cross-band mixing: attention over the band axis at the bottleneck and a mean-field mix at full
resolution.

- CFB (Condition Fusion Block): gated cross-modulation of PAN-branch and MS-branch features,
  injected into the denoiser features at each scale.
- BAMB (Band-Aware Modulation Block): fixed depthwise low-pass filters split features into
  high / mid / low frequency parts, each scaled by gains predicted from the embedding.

No spatial normalisation or pooling over the image: outputs depend only on a bounded
neighbourhood, so tiles give the same result as the whole scene. H and W must be multiples of
4 (the sampler pads). Only ONNX-friendly ops (opset 17): Conv, ConvTranspose, MatMul, Softmax.
"""

from __future__ import annotations

import math

import torch
import torch.nn as nn
import torch.nn.functional as F

from .conditioning import BAND_COND_CHANNELS, BAND_STATS, PAN_COND_CHANNELS

MULTIPLE = 4  # two stride-2 levels


def _conv(ci: int, co: int, k: int = 3, stride: int = 1) -> nn.Conv2d:
    return nn.Conv2d(ci, co, k, stride, padding=k // 2)


def _zero(module: nn.Module) -> nn.Module:
    for p in module.parameters():
        nn.init.zeros_(p)
    return module


def _per_band(x: torch.Tensor, n_bands: torch.Tensor | int) -> torch.Tensor:
    """(N, C, H, W) per-sample features -> (N*B, C, H, W), repeated for every band stream."""
    n, c, h, w = x.shape
    return x.unsqueeze(1).expand(n, n_bands, c, h, w).reshape(-1, c, h, w)


class Embedding(nn.Module):
    """Embedding of (timestep t in [0, 1], band descriptor in [0, 1]) for each band stream, and of
    the band's scene statistics (``n_stats`` > 0: SceneStats.band_stats, through a zero-initialised
    layer so a model trained without them starts unchanged)."""

    def __init__(self, dim: int, n_freq: int = 8, n_stats: int = 0, n_stat_freq: int = 4):
        super().__init__()
        self.register_buffer("t_freq", torch.exp(torch.linspace(0.0, math.log(1000.0), n_freq)))
        self.register_buffer("d_freq", math.pi * torch.arange(1, n_freq + 1, dtype=torch.float32))
        self.mlp = nn.Sequential(nn.Linear(4 * n_freq + 2, dim), nn.SiLU(), nn.Linear(dim, dim))
        self.n_stats = n_stats
        if n_stats:
            self.register_buffer("s_freq", math.pi / 2 * torch.arange(1, n_stat_freq + 1, dtype=torch.float32))
            self.stats = _zero(nn.Linear(n_stats * (2 * n_stat_freq + 1), dim))

    def forward(self, t: torch.Tensor, desc: torch.Tensor, stats: torch.Tensor | None = None) -> torch.Tensor:
        tt = (t[:, None] + 0.0 * desc).reshape(-1, 1)  # (N*B, 1)
        d = desc.reshape(-1, 1)
        ft, fd = tt * self.t_freq, d * self.d_freq
        h = self.mlp[0](torch.cat([ft.sin(), ft.cos(), fd.sin(), fd.cos(), tt, d], 1))
        if self.n_stats:
            s = stats.reshape(-1, self.n_stats, 1)
            fs = s * self.s_freq  # (N*B, K, F)
            h = h + self.stats(torch.cat([s, fs.sin(), fs.cos()], 2).reshape(s.shape[0], -1))
        return self.mlp[2](self.mlp[1](h))


class ResBlock(nn.Module):
    """Two 3x3 convolutions with FiLM from the embedding; zero-initialised residual branch."""

    def __init__(self, c: int, emb: int):
        super().__init__()
        self.conv1, self.conv2 = _conv(c, c), _zero(_conv(c, c))
        self.film = nn.Linear(emb, 2 * c)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        scale, shift = self.film(e)[:, :, None, None].chunk(2, 1)
        h = self.conv1(F.silu(x)) * (1 + scale) + shift
        return x + self.conv2(F.silu(h))


class CFB(nn.Module):
    """Condition Fusion Block: PAN features a and MS features b modulate each other
    (a*sigmoid(b) + b*sigmoid(a)); a gate computed from the denoiser features decides how much
    of the fused condition enters them."""

    def __init__(self, c: int, c_pan: int, c_ms: int):
        super().__init__()
        self.pan, self.ms = _conv(c_pan, c, 1), _conv(c_ms, c, 1)
        self.gate = _conv(2 * c, c)
        self.out = _conv(c, c, 1)

    def forward(self, h: torch.Tensor, pan_feat: torch.Tensor, ms_feat: torch.Tensor, n_bands) -> torch.Tensor:
        a = _per_band(self.pan(pan_feat), n_bands)
        b = self.ms(ms_feat)
        cross = a * torch.sigmoid(b) + b * torch.sigmoid(a)
        g = torch.sigmoid(self.gate(torch.cat([h, cross], 1)))
        return h + g * self.out(cross)


class BAMB(nn.Module):
    """Band-Aware Modulation Block: split features into high/mid/low frequencies with fixed
    separable binomial filters (3 taps, then 5 more taps: small support keeps the tile halo
    small) and scale each part by gains predicted from the (timestep, band descriptor) embedding."""

    def __init__(self, c: int, emb: int):
        super().__init__()
        for name, taps in (("k3", [1.0, 2.0, 1.0]), ("k5", [1.0, 4.0, 6.0, 4.0, 1.0])):
            k = torch.tensor(taps) / sum(taps)
            self.register_buffer(name + "v", k.view(1, 1, -1, 1).repeat(c, 1, 1, 1))
            self.register_buffer(name + "h", k.view(1, 1, 1, -1).repeat(c, 1, 1, 1))
        self.c = c
        self.gains = _zero(nn.Linear(emb, 3 * c))

    def _blur(self, x: torch.Tensor, kv: torch.Tensor, kh: torch.Tensor) -> torch.Tensor:
        r = kv.shape[2] // 2
        x = F.conv2d(x, kv, padding=(r, 0), groups=self.c)
        return F.conv2d(x, kh, padding=(0, r), groups=self.c)

    def forward(self, x: torch.Tensor, e: torch.Tensor) -> torch.Tensor:
        low1 = self._blur(x, self.k3v, self.k3h)
        low2 = self._blur(low1, self.k5v, self.k5h)
        g_hi, g_mid, g_lo = self.gains(e)[:, :, None, None].chunk(3, 1)
        return x + g_hi * (x - low1) + g_mid * (low1 - low2) + g_lo * low2


class BandAttention(nn.Module):
    """Per-pixel attention across the band streams of each sample (spectral consistency)."""

    def __init__(self, c: int, d: int = 16):
        super().__init__()
        self.qkv = _conv(c, 3 * d, 1)
        self.out = _zero(_conv(d, c, 1))
        self.d = d

    def forward(self, h: torch.Tensor, n_bands) -> torch.Tensor:
        nb, c, hh, ww = h.shape
        qkv = self.qkv(h).reshape(-1, n_bands, 3 * self.d, hh, ww).permute(0, 3, 4, 1, 2)  # N,H,W,B,3d
        q, k, v = qkv.chunk(3, -1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(self.d), -1)  # N,H,W,B,B
        o = (att @ v).permute(0, 3, 4, 1, 2).reshape(nb, self.d, hh, ww)
        return h + self.out(o)


class BandMeanMix(nn.Module):
    """Each band stream sees the mean over the sample's bands (cheap full-resolution mixing)."""

    def __init__(self, c: int):
        super().__init__()
        self.mix = nn.Sequential(_conv(2 * c, c, 1), nn.SiLU(), _zero(_conv(c, c, 1)))

    def forward(self, h: torch.Tensor, n_bands) -> torch.Tensor:
        nb, c, hh, ww = h.shape
        mean = h.reshape(-1, n_bands, c, hh, ww).mean(1)
        return h + self.mix(torch.cat([h, _per_band(mean, n_bands)], 1))


class Branch(nn.Module):
    """Condition encoder: features at full, 1/2 and 1/4 resolution."""

    def __init__(self, ci: int, chans: tuple[int, int, int]):
        super().__init__()
        c0, c1, c2 = chans
        self.l0 = nn.Sequential(_conv(ci, c0), nn.SiLU(), _conv(c0, c0))
        self.l1 = nn.Sequential(nn.SiLU(), _conv(c0, c1, stride=2), nn.SiLU(), _conv(c1, c1))
        self.l2 = nn.Sequential(nn.SiLU(), _conv(c1, c2, stride=2), nn.SiLU(), _conv(c2, c2))

    def forward(self, x: torch.Tensor) -> list[torch.Tensor]:
        f0 = self.l0(x)
        f1 = self.l1(f0)
        return [f0, f1, self.l2(f1)]


class HFreqDiffNet(nn.Module):
    """x0 = net(x_t, t, band_cond, pan_cond, desc[, band_stats]).

    Shapes: x_t (N, B, H, W); t (N,); band_cond (N, B, 3, H, W); pan_cond (N, 2, H, W);
    desc (N, B); band_stats (N, B, BAND_STATS), only for a network built with ``band_stats``.
    Output (N, B, H, W). B may vary between calls (3 to 8 in training).
    """

    def __init__(self, channels: tuple[int, int, int] = (16, 32, 64),
                 cond_channels: tuple[int, int, int] = (16, 24, 32), emb: int = 64, band_stats: bool = False):
        super().__init__()
        c0, c1, c2 = channels
        self.config = {"channels": list(channels), "cond_channels": list(cond_channels), "emb": emb}
        if band_stats:  # absent from the config of a model without them (older files stay equal)
            self.config["band_stats"] = True
        self.embed = Embedding(emb, n_stats=BAND_STATS if band_stats else 0)
        self.pan_branch = Branch(PAN_COND_CHANNELS, cond_channels)
        self.ms_branch = Branch(BAND_COND_CHANNELS, cond_channels)
        self.inp = _conv(1 + BAND_COND_CHANNELS + PAN_COND_CHANNELS, c0)
        self.enc0, self.cfb0 = ResBlock(c0, emb), CFB(c0, cond_channels[0], cond_channels[0])
        self.down1 = _conv(c0, c1, stride=2)
        self.enc1, self.cfb1 = ResBlock(c1, emb), CFB(c1, cond_channels[1], cond_channels[1])
        self.down2 = _conv(c1, c2, stride=2)
        self.mid1, self.cfb2 = ResBlock(c2, emb), CFB(c2, cond_channels[2], cond_channels[2])
        self.attn, self.bamb2, self.mid2 = BandAttention(c2), BAMB(c2, emb), ResBlock(c2, emb)
        self.up1 = nn.ConvTranspose2d(c2, c1, 2, stride=2)
        self.dec1, self.bamb1 = ResBlock(c1, emb), BAMB(c1, emb)
        self.up0 = nn.ConvTranspose2d(c1, c0, 2, stride=2)
        self.dec0, self.bamb0, self.mix0 = ResBlock(c0, emb), BAMB(c0, emb), BandMeanMix(c0)
        self.head = _zero(_conv(c0, 1))
        # Linear deterministic path from the two detail channels (starts as their average).
        self.skip = nn.Conv2d(2, 1, 1)
        with torch.no_grad():
            self.skip.weight.fill_(0.5)
            self.skip.bias.zero_()

    @property
    def uses_band_stats(self) -> bool:
        return bool(self.config.get("band_stats"))

    def forward(self, x_t: torch.Tensor, t: torch.Tensor, band_cond: torch.Tensor,
                pan_cond: torch.Tensor, desc: torch.Tensor, band_stats: torch.Tensor | None = None) -> torch.Tensor:
        n, b, h, w = x_t.shape
        if self.uses_band_stats and band_stats is None:
            raise ValueError("this network needs the band statistics (band_stats)")
        e = self.embed(t, desc, band_stats)
        bc = band_cond.reshape(-1, BAND_COND_CHANNELS, h, w)  # (N*B, 3, H, W)
        p = self.pan_branch(pan_cond)
        m = self.ms_branch(bc)
        x = torch.cat([x_t.reshape(-1, 1, h, w), bc, _per_band(pan_cond, b)], 1)
        h0 = self.cfb0(self.enc0(self.inp(x), e), p[0], m[0], b)
        h1 = self.cfb1(self.enc1(self.down1(h0), e), p[1], m[1], b)
        h2 = self.cfb2(self.mid1(self.down2(h1), e), p[2], m[2], b)
        h2 = self.mid2(self.bamb2(self.attn(h2, b), e), e)
        h1 = self.bamb1(self.dec1(self.up1(h2) + h1, e), e)
        h0 = self.mix0(self.bamb0(self.dec0(self.up0(h1) + h0, e), e), b)
        out = self.head(h0) + self.skip(bc[:, 1:3])
        return out.reshape(n, b, h, w)


def build_network(config: dict | None = None) -> HFreqDiffNet:
    cfg = config or {}
    return HFreqDiffNet(tuple(cfg.get("channels", (16, 32, 64))), tuple(cfg.get("cond_channels", (16, 24, 32))),
                        int(cfg.get("emb", 64)), bool(cfg.get("band_stats", False)))


def count_parameters(net: nn.Module) -> int:
    return sum(p.numel() for p in net.parameters())
