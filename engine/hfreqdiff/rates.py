"""Measured speeds of HFreqDiff on the CPU, in seconds per work unit (band-megapixels): what the
time estimates (engine.hfreqdiff.cost, the dock) and a run's first in-call progress assume before
the run has measured its own rate."""

# Measured on the 2-core CPU (AMD EPYC, ONNX Runtime 1.23, 2 threads, no NCHWc layout transform):
# lab/presets_bench.py on its 2048 x 2048 4-band and 1024 x 1024 8-band scenes, fast and best presets
# (least squares over the four runs: each predicted within -5 % to +12 %; lab/reports/presets.md).
# Issue 14.
CPU_SECONDS_PER_NETWORK_UNIT = 1.44  # per band-megapixel through the network (one pass)
CPU_SECONDS_PER_CONDITION_UNIT = 0.214  # per band-megapixel of conditioning (and everything per tile)
