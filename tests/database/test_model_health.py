"""The rules of the model's life (database.services.model_life): promotion tolerance, the trigger
thresholds and their figures, per-family policy; on SQLite and PostgreSQL."""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_model_life import CLASSES, life  # noqa: F401  (the fixture)

from database.errors import InvalidInputError
from database.orm import HealthLevel
from database.services import model_life
from database.services.registry import ModelCandidate

LIMITS = model_life.DEFAULT_THRESHOLDS


def test_promotion_verdict_judges_every_class_within_the_tolerance() -> None:
    ok, deltas = model_life.promotion_verdict({"bg": 0.95, "crack": 0.40}, {"bg": 0.96, "crack": 0.30}, 0.02)
    assert ok and deltas == pytest.approx({"bg": -0.01, "crack": 0.10})
    worse, deltas = model_life.promotion_verdict(
        {"bg": 0.95, "crack": 0.27}, {"bg": 0.90, "crack": 0.30}, 0.02
    )
    assert not worse and deltas["crack"] == pytest.approx(-0.03)
    # a class absent from the held-out data (NaN) is not judged; nothing comparable is never promotable
    ok, deltas = model_life.promotion_verdict({"bg": 0.9, "pit": math.nan}, {"bg": 0.9, "pit": 0.5}, 0.0)
    assert ok and set(deltas) == {"bg"}
    assert model_life.promotion_verdict({"pit": math.nan}, {"pit": math.nan}, 0.1) == (False, {})


@pytest.mark.parametrize(
    ("figures", "level", "phrase"),
    [
        ({"reviewed": 10, "false_positives": 2, "false_positive_rate": 0.2}, HealthLevel.OK, None),
        ({"reviewed": 10, "false_positives": 4, "false_positive_rate": 0.4}, HealthLevel.RETRAIN, "4 of 10"),
        ({"reviewed": 3, "false_positives": 3, "false_positive_rate": 1.0}, HealthLevel.OK, None),  # too few
        (
            {"corrected_captures": 4, "captures_with_misses": 2, "miss_rate": 0.5},
            HealthLevel.RETRAIN,
            "missed",
        ),
        (
            {"confidence_first": 0.9, "confidence_recent": 0.7, "confidence_drop": 0.2},
            HealthLevel.RETRAIN,
            "fell",
        ),
        (
            {"input_shift_sd": 0.3, "input_shift": 0.4, "std_ratio": 1.1},
            HealthLevel.RETRAIN,
            "0.30 training sd (40 %)",
        ),
        ({"input_shift_sd": 0.05, "std_ratio": 1.8}, HealthLevel.RETRAIN, "std ratio 1.80"),
        (
            {"input_shift_sd": 1.2, "input_shift": 0.7},
            HealthLevel.REDESIGN,
            "moved by 1.20 training sd (> 0.80",
        ),
        # a large relative change of a dark channel's small mean is not a shift on its own
        ({"input_shift_sd": 0.1, "input_shift": 0.5, "std_ratio": 1.0}, HealthLevel.OK, None),
        (
            {
                "latency_ratio": 2.0,
                "latency_ms_measured": 20.0,
                "latency_ms_design": 10.0,
                "latency_device": "cpu",
            },
            HealthLevel.REDESIGN,
            "20.0 ms on cpu against 10.0 ms",
        ),
    ],
)
def test_triggers(figures: dict, level: HealthLevel, phrase: str | None) -> None:
    got, reasons = model_life.judge(figures, LIMITS)
    assert got == level
    assert (phrase is None and reasons == []) or any(phrase in r for r in reasons), reasons


def test_assess_records_figures_and_the_policy_changes_the_verdict(client, life, factory, builder) -> None:  # noqa: F811
    from database.services import CycleRecorder

    eng, admin = life["users"]["eng"].headers, life["users"]["admin"].headers
    registry = life["registry"]
    # a deployed model whose training statistics are far from the recorded captures' (random 40..200)
    registry.register_candidate(
        ModelCandidate(
            version="v-dark",
            part_family="HPT1",
            architecture={},
            weights_path="w",
            class_names=CLASSES,
            latency_ms=10.0,
            input_stats={"white": {"mean": 0.2, "std": 0.1}, "uv": {"mean": 0.47, "std": 0.18}},
        )
    )
    registry.deploy("v-dark")
    CycleRecorder(factory).record(builder.record("SN-2", "HPT1", model_version="v-dark", viewpoints=2))
    assert (
        client.get("/api/v1/model-life/health", params={"part_family": "HPT1"}, headers=eng).status_code
        == 404
    )
    r = client.post(
        "/api/v1/model-life/health/check",
        json={"part_family": "HPT1", "measured_latency_ms": 30.0},
        headers=eng,
    )
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["level"] == "redesign_recommended" and body["model_version"] == "v-dark"
    white = body["figures"]["channels"]["white"]
    assert white["mean"] == pytest.approx(120 / 255, abs=0.02) and white["mean_change"] > 1.0
    assert white["mean_shift_sd"] == pytest.approx((white["mean"] - 0.2) / 0.1)
    assert body["figures"]["input_shift_sd"] >= white["mean_shift_sd"]
    assert body["figures"]["latency_ratio"] == pytest.approx(3.0)
    assert client.get("/api/v1/model-life/health", params={"part_family": "HPT1"}, headers=eng).json() == body

    # the family's thresholds: an admin raises them; engineers may not; unknown keys are refused
    raised = {
        "input_shift_sd_retrain": 5.0,
        "input_shift_sd_redesign": 9.0,
        "std_ratio": 9.0,
        "latency_ratio": 5.0,
    }
    assert client.put("/api/v1/model-life/policy", json={"part_family": "HPT1", "thresholds": raised},
                      headers=eng).status_code == 403  # fmt: skip
    r = client.put(
        "/api/v1/model-life/policy", json={"part_family": "HPT1", "thresholds": {"nope": 1}}, headers=admin
    )
    assert r.status_code == 422 and "nope" in r.text
    r = client.put(
        "/api/v1/model-life/policy", json={"part_family": "HPT1", "thresholds": raised}, headers=admin
    )
    assert r.status_code == 200 and r.json()["latency_ratio"] == 5.0
    r = client.post(
        "/api/v1/model-life/health/check",
        json={"part_family": "HPT1", "measured_latency_ms": 30.0},
        headers=eng,
    )
    assert r.json()["level"] == "ok", r.json()
    r = client.post("/api/v1/model-life/health/check", json={"part_family": "NOPE"}, headers=eng)
    assert r.status_code == 404


def test_thresholds_must_be_finite_and_not_negative(factory, life) -> None:  # noqa: F811
    with factory() as session, pytest.raises(InvalidInputError, match="finite and >= 0"):
        model_life.set_thresholds(session, "HPT1", {"miss_rate": -1.0})
    with factory() as session, pytest.raises(InvalidInputError, match="finite and >= 0"):
        model_life.set_thresholds(session, "HPT1", {"miss_rate": float(np.inf)})


def test_retrain_route_without_a_retrainer_is_503_and_admin_only(client, life) -> None:  # noqa: F811
    body = {"part_family": "HPT1"}
    assert (
        client.post("/api/v1/model-life/retrain", json=body, headers=life["users"]["eng"].headers).status_code
        == 403
    )
    r = client.post("/api/v1/model-life/retrain", json=body, headers=life["users"]["admin"].headers)
    assert r.status_code == 503 and "no retrainer attached" in r.text


def test_retrain_route_runs_the_attached_retrainer_in_the_background(app, client, life) -> None:  # noqa: F811
    import threading

    done = threading.Event()
    calls = []

    def runner(family, **kwargs):
        calls.append((family, kwargs))
        done.set()
        return {"version": "v2", "promoted": False}

    app.state.retrain_runner = runner
    admin = life["users"]["admin"].headers
    r = client.post(
        "/api/v1/model-life/retrain", json={"part_family": "HPT1", "auto_promote": True}, headers=admin
    )
    assert r.status_code == 202, r.text
    assert done.wait(10)
    job = r.json()["job_id"]
    for _ in range(100):
        state = client.get(f"/api/v1/model-life/retrain/{job}", headers=admin).json()
        if state["state"] != "running":
            break
        done.wait(0.05)
    assert state["state"] == "done" and state["result"]["version"] == "v2"
    assert calls == [("HPT1", {"like": None, "actor": "admin", "auto_promote": True, "tolerance": None})]
