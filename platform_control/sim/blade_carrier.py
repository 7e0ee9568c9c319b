"""Who holds the simulated blade, and where that puts it: the rules of grip and release, without physics.

The blade is rigid and follows its holder: the tray slot, the stage fixture, the gripper, the reject
bin, or nothing ("loose": released where no receiver was). The gripper closes on the blade only if the
tool centre is inside the blade's bounds; on opening, the blade is taken by a receiver within
`RELEASE_TOLERANCE` of where it is released, keeping the actual (not a snapped) pose, or falls into the
reject bin when released above its opening. Poses are 4x4 transforms blade frame -> world.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import numpy as np

from platform_control.transforms import pose_error

BladeHolder = Literal["tray", "fixture", "gripper", "reject_bin", "loose", "none"]
RELEASE_TOLERANCE = (0.003, np.radians(3.0))  # m, rad: a receiver takes the blade within this
GRIP_MARGIN = 0.003  # m: the tool centre may lie this far outside the blade's bounds and still grip it
REJECT_BIN_HALF_OPENING = (0.19, 0.14)  # m, x and y about the bin's drop frame
REJECT_BIN_DROP = 0.39  # m: a blade released above the opening falls this far below the drop frame


@dataclass
class BladeCarrier:
    """The blade's holder and its pose relative to it (`relative` for the fixture and the gripper,
    which move; `static_pose` in the world for everything else)."""

    holder: BladeHolder
    static_pose: np.ndarray
    relative: np.ndarray = field(default_factory=lambda: np.eye(4))

    def pose(self, mount: np.ndarray, tool: np.ndarray) -> np.ndarray:
        """The blade's world pose given the stage mount's and the tool centre's current poses."""
        if self.holder == "fixture":
            return mount @ self.relative
        if self.holder == "gripper":
            return tool @ self.relative
        return self.static_pose

    def place(self, holder: Literal["tray", "fixture"], tray_pose: np.ndarray) -> None:
        """Seat the blade exactly in the tray slot or on the fixture (no arm involved)."""
        self.holder, self.static_pose, self.relative = holder, tray_pose.copy(), np.eye(4)

    def grip(self, tool: np.ndarray, blade: np.ndarray, bounds: np.ndarray) -> bool:
        """Take the blade into the gripper if the tool centre is inside its (2, 3) `bounds`."""
        if self.holder in ("gripper", "reject_bin", "none"):
            return False
        point = (np.linalg.inv(blade) @ np.append(tool[:3, 3], 1.0))[:3]
        lo, hi = bounds
        if np.all(point >= lo - GRIP_MARGIN) and np.all(point <= hi + GRIP_MARGIN):
            self.holder, self.relative = "gripper", np.linalg.inv(tool) @ blade
            return True
        return False

    def release(self, blade: np.ndarray, mount: np.ndarray, tray: np.ndarray, reject_bin: np.ndarray) -> None:
        """Open the gripper at blade pose `blade`: the fixture or tray takes it if near, else it drops."""
        if self.holder != "gripper":
            return
        for holder, target in (("fixture", mount), ("tray", tray)):
            dp, da = pose_error(blade, target)
            if dp <= RELEASE_TOLERANCE[0] and da <= RELEASE_TOLERANCE[1]:
                self.holder, self.relative, self.static_pose = holder, np.linalg.inv(mount) @ blade, blade
                return
        offset = np.abs(blade[:2, 3] - reject_bin[:2, 3])
        if np.all(offset < REJECT_BIN_HALF_OPENING) and blade[2, 3] > reject_bin[2, 3]:
            dropped = blade.copy()
            dropped[2, 3] = reject_bin[2, 3] - REJECT_BIN_DROP  # falls onto the bin floor
            self.holder, self.static_pose = "reject_bin", dropped
        else:
            self.holder, self.static_pose = "loose", blade
