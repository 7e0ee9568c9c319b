"""The model side of AutoNAD: architecture encoding, search space, supernet, MFAM, subnets, complexity.

Modules are imported directly (``autonad_core.models.supernet``); this file imports nothing so that a
leaf such as ``models.arch`` can be used without building the whole model stack.
"""
