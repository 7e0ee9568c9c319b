"""The cell's ROS 2 nodes: each module holds one node class (composable: no executor inside) and a
`main()` that runs it as its own process (`python -m bladecell_ros.nodes.<name> --ros-args ...`)."""
