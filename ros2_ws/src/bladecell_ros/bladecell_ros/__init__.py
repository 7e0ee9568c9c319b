"""ROS 2 nodes of the BladeCell inspection cell and the `bladecell` command line.

Nodes are thin adapters over `platform_control`, `autonad_core` and `database`.
"""

__version__ = "0.1.0"
