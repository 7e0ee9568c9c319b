"""Bring-up of the cell (ROS-free: nodes are processes): the process graph (`graph`), starting and
stopping it (`cell_graph.CellGraph`), the parent-pid watch (`parent_watch`) and the CLI's sessions
(`session`: demo, inspect with progress, summary)."""
