"""AutoNAD: automated neural architecture design for industrial defect segmentation.

Plain-PyTorch implementation of the method in ../shared/design/AUTONAD.md: a hybrid
conv/transformer/MLP supernet with cross weight sharing, a searchable multi-level feature
aggregation module (MFAM), latency-aware evolution search and retraining.
This package never imports ROS, the database or the cell logic.
"""

__version__ = "0.1.0"

import importlib

from autonad_core.models.arch import (
    DECODER_OPS,
    OPERATORS,
    Arch,
    ArchValidationError,
    BlockArch,
    DecoderArch,
    DecoderEdge,
    StageArch,
)
from autonad_core.models.blocks import SHARING_MODES
from autonad_core.models.complexity import count_flops, count_params
from autonad_core.models.search_space import DecoderSpace, SearchSpace, StageSpace
from autonad_core.models.subnet import Subnet, load_subnet, materialize, save_subnet
from autonad_core.models.supernet import Supernet
from autonad_core.runtime import tune_allocator

tune_allocator()  # before the caller allocates its first tensor; see autonad_core.runtime

# Pipeline names, imported on first use so `import autonad_core` stays light and acyclic.
_LAZY = {
    "design": "autonad_core.pipeline",
    "DesignResult": "autonad_core.pipeline",
    "ProgressEvent": "autonad_core.pipeline",
    "Detector": "autonad_core.deploy.predict",
    "Prediction": "autonad_core.deploy.predict",
}


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'autonad_core' has no attribute {name!r}")


def describe_space(space: SearchSpace | None = None) -> str:
    """Search-space ranges plus the parameter range of its bounds (for an ``autonad space`` command)."""
    space = space or SearchSpace()
    small, large = space.smallest(), space.largest()
    return (
        f"{space.describe()}\n"
        f"params (3 in / 2 classes): smallest {count_params(small) / 1e6:.2f} M, "
        f"largest {count_params(large) / 1e6:.2f} M"
    )


__all__ = [
    "DECODER_OPS",
    "OPERATORS",
    "SHARING_MODES",
    "Arch",
    "ArchValidationError",
    "BlockArch",
    "DecoderArch",
    "DecoderEdge",
    "DecoderSpace",
    "SearchSpace",
    "StageArch",
    "StageSpace",
    "Subnet",
    "Supernet",
    "__version__",
    "count_flops",
    "count_params",
    "describe_space",
    "load_subnet",
    "materialize",
    "save_subnet",
]
