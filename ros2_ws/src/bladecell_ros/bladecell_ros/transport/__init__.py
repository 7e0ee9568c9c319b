"""ROS transport: messages <-> library types (`conversions`, `cell_messages`), blocking service/action
calls (`ros_calls`), the ROS proxies that implement `CellServices` for the coordinator
(`ros_services`), the technician's client (`client`), goal cancellation (`goal_cancel`) and node
plumbing (`node_utils`: parameters, executors, the e-stop QoS)."""
