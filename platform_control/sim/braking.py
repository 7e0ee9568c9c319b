"""The reference of a controlled stop (`SimCell.stop`): velocities ramp down to rest together.

A robot controller's protective stop (IEC 60204-1 category 1) decelerates the drives under control
before it holds them; a drive told to hold where it is would stop with the servo's full torque, far
beyond the axis's rated deceleration. The ramp starts at the measured positions and velocities.
"""

from __future__ import annotations

import numpy as np


class BrakingRamp:
    """A controlled stop's reference: every joint decelerates uniformly from `v0` to rest, all at the
    same instant (the slowest joint at its `max_decel` sets it), so the joints keep their direction
    of travel and the stop stays on the path's tangent instead of bending away from it."""

    def __init__(self, q0: np.ndarray, v0: np.ndarray, max_decel: np.ndarray) -> None:
        self.q0, self.v0 = q0, v0
        self.duration = float((np.abs(v0) / max_decel).max(initial=0.0))
        self.decel = v0 / self.duration if self.duration > 0 else np.zeros_like(v0)

    @property
    def goal(self) -> np.ndarray:
        return self.q0 + 0.5 * self.v0 * self.duration

    def sample_state(self, t: float | np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Shape: t (T,) -> positions, velocities, accelerations (T, n)."""
        t = np.atleast_1d(np.asarray(t, dtype=float))[:, None]
        tt = np.minimum(t, self.duration)
        q = self.q0 + self.v0 * tt - 0.5 * self.decel * tt * tt
        v = self.v0 - self.decel * tt
        a = np.where(t < self.duration, -self.decel, 0.0)
        return q, v, a
