"""PADM: Progressive Alignment Degradation learning (Zhao et al., arXiv 2506.20179), as we read it.

Learns the scene's own degradation (per-band blur kernels, sub-pixel shifts, spectral response)
from its PAN/MS pair, starting from the sensor's MTF guess, by a progressive mutual iteration of a
degradation operator (PDegradeNet) and an alignment network (PAlignNet). Modules:

- :mod:`.profile`: the scene profile (JSON), its conventions and numpy operators (no torch)
- :mod:`.degrade_net`, :mod:`.align_net`: the two torch networks
- :mod:`.mutual`: the iteration (:func:`.mutual.learn_degradation`)
- :mod:`.synthetic`: known-degradation synthesis and :func:`.synthetic.known_degradation_check`
- :mod:`.cli`: the ``degradation`` command

torch is imported only by the network modules, so importing this package stays light.
"""

from .profile import DegradationProfile, read_profile, write_profile

__all__ = ["DegradationProfile", "read_profile", "write_profile"]
