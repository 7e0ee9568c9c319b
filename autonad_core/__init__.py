"""AutoNAD: automated neural architecture design for industrial defect segmentation.

Plain-PyTorch implementation of the method in ../shared/design/AUTONAD.md: a hybrid
conv/transformer/MLP supernet with cross weight sharing, a searchable multi-level feature
aggregation module (MFAM), latency-aware evolution search and retraining.
This package never imports ROS, the database or the cell logic.
"""

__version__ = "0.1.0"
