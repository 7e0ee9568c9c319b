"""The model registry: candidates, deploy retires the previous model, one deployed per family."""

from __future__ import annotations

import threading

import pytest
from pydantic import ValidationError

from database.errors import ConflictError, InvalidTransitionError, NotFoundError
from database.orm import ModelStatus
from database.services import ModelCandidate, ModelRegistry


def candidate(version: str, family: str = "HPT1", **extra) -> ModelCandidate:
    fields = {
        "version": version,
        "part_family": family,
        "architecture": {"depths": [2, 2, 6, 2], "ops": ["conv", "mlp"]},
        "metrics": {"miou": 0.71, "f1": 0.8},
        "latency_ms": 12.5,
        "latency_device": "jetson-orin",
        "weights_path": f"models/{version}/weights.pt",
        "weights_sha256": "ab" * 32,
        "dataset_snapshot": "store@2026-11-01",
    }
    return ModelCandidate(**{**fields, **extra})


def test_register_and_read_back_provenance(factory) -> None:
    registry = ModelRegistry(factory)
    info = registry.register_candidate(candidate("hpt1-v1"))
    assert info.status == ModelStatus.CANDIDATE and info.part_family == "HPT1"
    again = registry.get("hpt1-v1")
    assert again.architecture == {"depths": [2, 2, 6, 2], "ops": ["conv", "mlp"]}
    assert again.metrics == {"miou": 0.71, "f1": 0.8} and again.latency_ms == 12.5
    assert registry.get(info.id).version == "hpt1-v1"
    assert registry.deployed_for("HPT1") is None  # no deployed model yet: the cell must design one


def test_deploy_retires_the_previous_model_of_the_family_only(factory) -> None:
    registry = ModelRegistry(factory)
    for version, family in (("hpt1-v1", "HPT1"), ("hpt1-v2", "HPT1"), ("lpt2-v1", "LPT2")):
        registry.register_candidate(candidate(version, family))
    registry.deploy("hpt1-v2")  # a newer id deployed first, then an older one: order must not matter
    registry.deploy("lpt2-v1")
    deployed = registry.deploy("hpt1-v1")
    assert deployed.status == ModelStatus.DEPLOYED and deployed.deployed_at is not None
    assert registry.get("hpt1-v2").status == ModelStatus.RETIRED
    assert registry.get("hpt1-v2").retired_at is not None
    assert registry.deployed_for("HPT1").version == "hpt1-v1"
    assert registry.deployed_for("LPT2").version == "lpt2-v1"  # other families untouched
    # Rolling back to a retired model is a deploy like any other.
    assert registry.deploy("hpt1-v2").status == ModelStatus.DEPLOYED
    assert registry.get("hpt1-v1").status == ModelStatus.RETIRED
    assert [m.version for m in registry.list("HPT1", ModelStatus.DEPLOYED)] == ["hpt1-v2"]


def test_duplicates_unknowns_and_bad_candidates(factory) -> None:
    registry = ModelRegistry(factory)
    registry.register_candidate(candidate("v1"))
    with pytest.raises(ConflictError, match="'v1' is already registered"):
        registry.register_candidate(candidate("v1"))
    with pytest.raises(NotFoundError):
        registry.deploy("nope")
    registry.retire("v1")
    with pytest.raises(InvalidTransitionError, match="already retired"):
        registry.retire("v1")
    with pytest.raises(ValidationError):
        candidate("bad version with spaces")
    with pytest.raises(ValidationError):
        candidate("v2", latency_ms=-1.0)


def test_concurrent_deploys_leave_exactly_one_deployed(factory) -> None:
    registry = ModelRegistry(factory)
    versions = [f"hpt1-v{i}" for i in range(4)]
    for v in versions:
        registry.register_candidate(candidate(v))
    errors: list[BaseException] = []
    barrier = threading.Barrier(len(versions))

    def deploy(version: str) -> None:
        try:
            barrier.wait()
            registry.deploy(version)
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=deploy, args=(v,)) for v in versions]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    assert errors == []
    statuses = [registry.get(v).status for v in versions]
    assert statuses.count(ModelStatus.DEPLOYED) == 1
    assert statuses.count(ModelStatus.RETIRED) == 3
