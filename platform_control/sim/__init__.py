"""The simulated cell: robot/cell descriptions, a MuJoCo model of arm and stage driven through physics,
simulated drivers, a multispectral camera with synthetic defects, and a labelled-dataset generator.

Modules (import them directly; this package only selects the GL back-end):
- `description`: URDF/SDF of arm, stage, camera and cell from the parameter files (`robot_model` writes).
- `cell_model`: the MuJoCo model built from the cell URDF with MjSpec (servos, camera, blade body).
- `cell.SimCell`: physics, trajectory following, limits, e-stop (a controlled stop: `braking`), gripper
  and blade holders; timing modes.
- `drivers.SimDrivers`: the `platform_control.hardware` protocols (arm, stage, gripper, lights, camera).
- `render.MultispectralRenderer`: geometry pass + appearance + shading + sensor, pixel-exact masks;
  `defects`/`placement`/`appearance`/`shading`/`sensor`/`optics` are its parts (configs in `config/`).
- `scan`: the simulator's labelled capture at a stage pose; LOAD / UNLOAD are the cell's own
  (`platform_control.cycle.motion`) over the simulated drivers (`scan.cell_motion`).
- `world.SimWorld`: the simulated cell a running cell uses, persisted across a driver-process restart.
- `dataset.generate_dataset`: labelled datasets in autonad's generic folder format; `preview`: contact sheets.

MuJoCo renders offscreen; EGL is selected unless the caller chose a back-end before importing us. An EGL
context belongs to the thread that uses it: render (capture) from one thread per `SimCell`.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
