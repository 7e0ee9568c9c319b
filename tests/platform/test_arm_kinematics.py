"""UR10e forward/inverse kinematics against an independent product-of-exponentials model."""

from __future__ import annotations

import itertools

import numpy as np
import pytest

from platform_control.arm import ArmKinematics, UnreachablePoseError
from platform_control.params import load_arm_params, load_cell_layout
from platform_control.transforms import pose_error

ARM = load_arm_params()
# UR10e published dimensions (Universal Robots DH table), named as in Lynch & Park, "Modern Robotics",
# Example 4.5 (the UR5 written as a product of exponentials).
H1, H2 = 0.1807, 0.11985
L1, L2 = 0.6127, 0.57155
W1, W2 = 0.17415, 0.11655


def _twist(w: tuple[float, float, float], q: tuple[float, float, float]) -> np.ndarray:
    w_arr, q_arr = np.array(w, float), np.array(q, float)
    v = -np.cross(w_arr, q_arr)
    out = np.zeros((4, 4))
    out[:3, :3] = [[0, -w_arr[2], w_arr[1]], [w_arr[2], 0, -w_arr[0]], [-w_arr[1], w_arr[0], 0]]
    out[:3, 3] = v
    return out


# Space-frame screw axes and home pose (Modern Robotics Example 4.5 frame: x along the stretched arm).
SCREWS = [
    _twist((0, 0, 1), (0, 0, 0)),
    _twist((0, 1, 0), (0, 0, H1)),
    _twist((0, 1, 0), (L1, 0, H1)),
    _twist((0, 1, 0), (L1 + L2, 0, H1)),
    _twist((0, 0, -1), (L1 + L2, W1, 0)),
    _twist((0, 1, 0), (L1 + L2, 0, H1 - H2)),
]
HOME = np.array([[-1, 0, 0, L1 + L2], [0, 0, 1, W1 + W2], [0, 1, 0, H1 - H2], [0, 0, 0, 1]], float)
# The DH base frame is the textbook frame turned half a turn about z.
RZ_PI = np.diag([-1.0, -1.0, 1.0, 1.0])


def expm(twist_theta: np.ndarray) -> np.ndarray:
    """exp of a revolute twist times theta (Rodrigues' formula, Modern Robotics eq. 3.51/3.88)."""
    theta = float(np.linalg.norm([twist_theta[2, 1], twist_theta[0, 2], twist_theta[1, 0]]))
    if theta < 1e-15:
        return np.eye(4)
    w_hat = twist_theta[:3, :3] / theta
    v = twist_theta[:3, 3] / theta
    out = np.eye(4)
    out[:3, :3] = np.eye(3) + np.sin(theta) * w_hat + (1 - np.cos(theta)) * w_hat @ w_hat
    out[:3, 3] = (
        np.eye(3) * theta + (1 - np.cos(theta)) * w_hat + (theta - np.sin(theta)) * w_hat @ w_hat
    ) @ v
    return out


def poe_fk(q: np.ndarray) -> np.ndarray:
    out = np.eye(4)
    for screw, theta in zip(SCREWS, q, strict=True):
        out = out @ expm(screw * theta)
    return RZ_PI @ out @ HOME


@pytest.fixture(scope="module")
def arm() -> ArmKinematics:
    return ArmKinematics(ARM, tool=np.eye(4))  # bare flange in the arm base frame


def batch_fk(q: np.ndarray) -> np.ndarray:
    """Flange poses (M, 4, 4) of many configurations at once (vectorised DH product)."""
    out = np.broadcast_to(np.eye(4), (len(q), 4, 4)).copy()
    for j, (d, a, alpha) in enumerate(ARM.dh):
        ct, st = np.cos(q[:, j]), np.sin(q[:, j])
        ca, sa = np.cos(alpha), np.sin(alpha)
        link = np.zeros((len(q), 4, 4))
        link[:, 0] = np.stack([ct, -st * ca, st * sa, a * ct], axis=1)
        link[:, 1] = np.stack([st, ct * ca, -ct * sa, a * st], axis=1)
        link[:, 2] = [0, sa, ca, d]
        link[:, 3] = [0, 0, 0, 1]
        out = out @ link
    return out


def _random_q(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.uniform([-np.pi] * 6, [np.pi] * 6, size=(n, 6))


def test_zero_pose_flange_position(arm: ArmKinematics) -> None:
    pose = arm.fk(np.zeros(6))
    assert np.allclose(pose[:3, 3], [-(0.6127 + 0.57155), -(0.17415 + 0.11655), 0.1807 - 0.11985], atol=1e-12)
    # flange z points along -y of the base, x along +x
    assert np.allclose(pose[:3, 2], [0, -1, 0], atol=1e-12)
    assert np.allclose(pose[:3, 0], [1, 0, 0], atol=1e-12)


def test_fk_matches_product_of_exponentials(arm: ArmKinematics) -> None:
    rng = np.random.default_rng(0)
    for q in [np.zeros(6), np.array([0, -np.pi / 2, 0, -np.pi / 2, 0, 0]), *_random_q(rng, 50)]:
        assert np.allclose(arm.fk(q), poe_fk(q), atol=1e-12), q


def test_fk_in_the_cell_adds_base_and_tool() -> None:
    layout = load_cell_layout()
    cell_arm = ArmKinematics.in_cell(ARM, layout)
    q = np.array([0.3, -1.2, 1.1, -0.5, 1.0, 0.2])
    flange = poe_fk(q)
    expected_tip = flange[:3, 3] + ARM.tool["length"] * flange[:3, 2] + np.array(layout.arm_base[:3])
    assert np.allclose(cell_arm.fk(q)[:3, 3], expected_tip, atol=1e-12)
    frames = cell_arm.link_frames(q)
    assert frames.shape == (8, 4, 4)
    assert np.allclose(frames[-1], cell_arm.fk(q))


def test_jacobian_matches_finite_differences(arm: ArmKinematics) -> None:
    q = np.array([0.4, -1.0, 1.3, -0.7, 0.9, -0.3])
    jac = arm.jacobian(q)
    eps = 1e-7
    for i in range(6):
        dq = np.zeros(6)
        dq[i] = eps
        d = (arm.fk(q + dq)[:3, 3] - arm.fk(q - dq)[:3, 3]) / (2 * eps)
        assert np.allclose(jac[:3, i], d, atol=1e-7)


def _expected_variant_count(arm: ArmKinematics, base: np.ndarray) -> int:
    count = 1
    for j in range(6):
        v = (base[j] + np.pi) % (2 * np.pi) - np.pi
        count *= sum(arm.lower[j] - 1e-12 <= v + k * 2 * np.pi <= arm.upper[j] + 1e-12 for k in range(-3, 4))
    return count


def test_ik_round_trip_on_300_random_poses(arm: ArmKinematics) -> None:
    rng = np.random.default_rng(42)
    found_original = generic = eight = 0
    for q in _random_q(rng, 300):
        target = arm.fk(q)
        sols = arm.ik(target, q_hint=q)
        poses = batch_fk(sols)
        assert np.max(np.linalg.norm(poses[:, :3, 3] - target[:3, 3], axis=1)) < 1e-9
        assert np.max(np.abs(poses[:, :3, :3] - target[:3, :3])) < 1e-9  # rotation entries: ~angle error
        assert np.all(sols >= arm.lower) and np.all(sols <= arm.upper)
        # nearest first, and ik_nearest agrees with a brute-force search over every solution
        dists = np.linalg.norm(sols - q, axis=1)
        assert dists[0] == pytest.approx(dists.min(), abs=0)
        assert np.allclose(arm.ik_nearest(target, q), sols[np.argmin(dists)])
        singular = abs(np.sin(q[4])) < 1e-3 or abs(np.sin(q[2])) < 1e-3
        if not singular:
            generic += 1
            found_original += dists[0] < 1e-7
            base = np.unique(np.round((sols + np.pi) % (2 * np.pi) - np.pi, 7), axis=0)
            # shoulder x wrist x elbow branches; near the workspace boundary some elbows cannot reach
            assert len(base) in (2, 4, 6, 8)
            eight += len(base) == 8
            assert len(sols) == sum(_expected_variant_count(arm, b) for b in base)
    assert generic > 290
    assert eight > 0.5 * generic
    assert found_original == generic  # the configuration that made the pose is always the nearest


def test_wrap_variants_differ_by_full_turns(arm: ArmKinematics) -> None:
    q = np.array([0.5, -1.0, 1.0, -0.5, 1.2, 0.3])
    all_sols = arm.ik(arm.fk(q))
    base_sols = arm.ik(arm.fk(q), wrap=False)
    assert len(base_sols) == 8
    assert len(all_sols) == sum(_expected_variant_count(arm, b) for b in base_sols) > 8
    for s in all_sols:
        diff = (
            s - base_sols[np.argmin(np.linalg.norm(((s - base_sols + np.pi) % (2 * np.pi)) - np.pi, axis=1))]
        )
        assert np.allclose(diff / (2 * np.pi), np.round(diff / (2 * np.pi)), atol=1e-9)
    # a current configuration one turn away on joint 1 gets the wrapped copy, not the base one
    q_turned = q - np.array([2 * np.pi, 0, 0, 0, 0, 0])  # joint 1 at 0.5 - 2π, inside its ±2π range
    assert np.allclose(arm.ik_nearest(arm.fk(q), q_turned), q_turned, atol=1e-7)


def test_wrist_singularity_still_solves(arm: ArmKinematics) -> None:
    q = np.array([0.2, -1.1, 1.4, -0.3, 0.0, 0.7])  # wrist 2 at zero: wrist 1 and 3 axes aligned
    target = arm.fk(q)
    sols = arm.ik(target, q_hint=q)
    for s in sols:
        dp, dr = pose_error(arm.fk(s), target)
        assert dp < 1e-9 and dr < 1e-9


@pytest.mark.parametrize("delta", [0.05, 0.3])
def test_pose_beyond_reach_reports_the_distance(arm: ArmKinematics, delta: float) -> None:
    target = arm.fk(np.zeros(6))  # fully stretched along -x of the base
    target[0, 3] -= delta  # push the same pose further out along the stretch
    with pytest.raises(UnreachablePoseError, match="outside the reachable workspace") as info:
        arm.ik(target)
    assert info.value.distance == pytest.approx(delta, abs=1e-9)
    assert np.allclose(info.value.pose, target)


def test_pose_inside_the_shoulder_cylinder_reports_the_distance(arm: ArmKinematics) -> None:
    target = np.eye(4)
    target[:3, 3] = [0.05, 0.0, 0.6]  # flange z up: wrist centre 0.05 m off the base axis
    with pytest.raises(UnreachablePoseError) as info:
        arm.ik(target)
    d_offset = ARM.dh[3][0]  # the wrist must stay d4 off the base axis
    assert info.value.distance == pytest.approx(d_offset - 0.05, abs=1e-9)


def test_pose_blocked_only_by_joint_limits_names_the_joint() -> None:
    limits = [list(lim) for lim in ARM.joint_limits]
    limits[0] = [0.5, 0.6]
    narrow = ArmKinematics(ARM.model_copy(update={"joint_limits": tuple(map(tuple, limits))}), tool=np.eye(4))
    target = narrow.fk(np.array([0.0, -1.0, 1.0, -0.5, 1.0, 0.0]))
    with pytest.raises(UnreachablePoseError, match="shoulder_pan_joint") as info:
        narrow.ik(target)
    assert info.value.distance == 0.0


def test_numeric_solutions_are_a_subset_of_the_analytic_ones(arm: ArmKinematics) -> None:
    numeric = ArmKinematics(ARM, tool=np.eye(4))
    numeric.analytic = False
    rng = np.random.default_rng(7)
    for q in _random_q(rng, 2):
        target = arm.fk(q)
        exact = arm.ik(target, wrap=False)
        found = numeric.ik(target, wrap=False)
        assert len(found) >= 2
        for s in found:
            wrapped = (s - exact + np.pi) % (2 * np.pi) - np.pi
            assert np.min(np.max(np.abs(wrapped), axis=1)) < 1e-7


def test_numeric_fallback_for_a_non_ur_arm() -> None:
    dh = [list(row) for row in ARM.dh]
    dh[3][1] = 0.04  # an offset wrist: no closed form
    dh[4][0] = 0.13
    odd = ArmKinematics(ARM.model_copy(update={"dh": tuple(map(tuple, dh))}), tool=np.eye(4))
    assert not odd.analytic
    rng = np.random.default_rng(11)
    for q in _random_q(rng, 2):
        target = odd.fk(q)
        nearest = odd.ik_nearest(target, q + rng.normal(0, 0.05, 6))
        dp, dr = pose_error(odd.fk(nearest), target)
        assert dp < 1e-9 and dr < 1e-9
        assert np.linalg.norm(nearest - q) < 1e-6
    far = odd.fk(np.zeros(6))
    far[0, 3] -= 0.4
    with pytest.raises(UnreachablePoseError) as info:
        odd.ik(far)
    # orientation held: the zero pose is 0.4 m short, re-aiming the stretched chain gains a little
    assert 0.1 < info.value.distance <= 0.4 + 1e-9


def test_bad_input_is_rejected(arm: ArmKinematics) -> None:
    with pytest.raises(ValueError, match="6 finite values"):
        arm.fk([0.0] * 5)
    with pytest.raises(ValueError, match="4x4"):
        arm.ik(np.eye(3))
    with pytest.raises(ValueError, match="finite"):
        arm.ik(np.full((4, 4), np.nan))
    assert list(itertools.islice(arm.joint_names, 2)) == ["shoulder_pan_joint", "shoulder_lift_joint"]
