"""Defaults and names that several layers share (commands, training, the study config), written once here; a light
module (no torch) so that option checks stay fast."""

AMP_MODES = ("off", "bf16")
"""`--amp` values: full precision, or the network under bf16 autocast (CUDA, or CPUs with AVX512-BF16)."""
