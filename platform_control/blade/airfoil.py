"""NACA 4-digit airfoil sections: the classic closed-form camber line and thickness distribution.

Used by the blade generator to build realistic cambered, tapered, twisted blade sections without any
external airfoil data.
"""

from __future__ import annotations

import numpy as np


def naca4_section(
    max_camber: float, camber_position: float, thickness: float, n_points: int = 60
) -> np.ndarray:
    """Closed airfoil outline of unit chord, counter-clockwise, leading edge at x = 0.

    Args:
        max_camber: maximum camber as a fraction of chord (NACA "m", e.g. 0.04).
        camber_position: chordwise position of maximum camber (NACA "p", e.g. 0.4).
        thickness: maximum thickness as a fraction of chord (NACA "t", e.g. 0.10).
        n_points: points per side; cosine spacing clusters them at the leading and trailing edges.

    Returns:
        (2 * n_points - 1, 2) outline: upper surface from the trailing edge to the leading edge, then
        the lower surface back to the trailing edge. The blunt trailing edge (NACA's finite thickness)
        closes the loop between the last and the first point.
    """
    if not 0 <= max_camber < 0.2 or not 0 < camber_position < 1 or not 0 < thickness < 0.5:
        raise ValueError(
            f"NACA section out of range: camber {max_camber}, camber position {camber_position}, "
            f"thickness {thickness}"
        )
    if n_points < 8:
        raise ValueError(f"NACA section needs at least 8 points per side, got {n_points}")
    beta = np.linspace(0.0, np.pi, n_points)
    x = 0.5 * (1.0 - np.cos(beta))
    yt = 5 * thickness * (0.2969 * np.sqrt(x) - 0.1260 * x - 0.3516 * x**2 + 0.2843 * x**3 - 0.1015 * x**4)
    m, p = max_camber, camber_position
    front = x < p
    yc = np.where(front, m / p**2 * (2 * p * x - x**2), m / (1 - p) ** 2 * ((1 - 2 * p) + 2 * p * x - x**2))
    dyc = np.where(front, 2 * m / p**2 * (p - x), 2 * m / (1 - p) ** 2 * (p - x))
    theta = np.arctan(dyc)
    upper = np.column_stack([x - yt * np.sin(theta), yc + yt * np.cos(theta)])
    lower = np.column_stack([x + yt * np.sin(theta), yc - yt * np.cos(theta)])
    # upper TE -> LE, then lower LE(+1) -> TE: counter-clockwise (the upper surface has larger y)
    return np.vstack([upper[::-1], lower[1:]])


def polygon_area(outline: np.ndarray) -> float:
    """Signed area of a closed 2-D polygon (positive when counter-clockwise)."""
    x, y = outline[:, 0], outline[:, 1]
    return 0.5 * float(np.dot(x, np.roll(y, -1)) - np.dot(np.roll(x, -1), y))
