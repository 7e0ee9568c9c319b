"""Plain-torch baselines for the AutoNAD benchmark (benchmarks/autonad_mt.py)."""

from autonad_core.baselines.deeplab import DeepLabV3Plus
from autonad_core.baselines.unet import UNet

__all__ = ["DeepLabV3Plus", "UNet"]
