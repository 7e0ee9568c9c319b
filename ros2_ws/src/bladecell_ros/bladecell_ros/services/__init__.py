"""ROS-free services that combine two libraries (no rclpy, no message package: a test checks it).

- `capture_store`: lossless captures + labels (database.storage) and the dataset export AutoNAD uses;
- `detection`: the deployed model (database registry + autonad_core) over stored captures, defect
  regions (platform_control.defect_regions);
- `designer`: AutoNAD design runs registered in the model registry;
- `recording`: a finished cycle -> the database record;
- `evaluation`: detections against the simulator's ground truth;
- `local_cell.LocalCellServices`: `platform_control.cycle.services.CellServices` in one process (the
  simulated world + the services above), beside the ROS proxies in `transport.ros_services`.
"""
