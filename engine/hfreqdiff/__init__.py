"""HFreqDiff: conditional diffusion of the pansharpening high-frequency residual.

Modules: conditioning (scene statistics, network inputs), diffusion (schedule, position-keyed
noise, DDIM sampler), network (torch), data / train / export (training side, torch), method
(the FusionMethod, ONNX Runtime or torch). Importing this package imports neither torch nor
onnxruntime.
"""

from .method import HFreqDiffMethod

__all__ = ["HFreqDiffMethod"]
