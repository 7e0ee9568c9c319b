"""Model design for a part family (ROS-free; the model-designer node wraps it).

AutoNAD (`autonad_core.design`) runs on an exported labelled dataset into
`<home>/models/<family>/<version>/`, with latency measured on the detector's device (`target_device`);
the retrained model folder is then registered in the model registry with its architecture, metrics,
latency and provenance (dataset folder, AutoNAD config) and, unless told otherwise, deployed as the
family's model; registering and deploying wait out a short database outage (`db_outage`), so minutes
of design are not lost to a dropped connection; a model whose registration still failed (the
database stayed away past the tolerance) keeps an `unregistered.json` beside it, and the next design
of the same dataset with the same settings (the resumed cycle) registers it instead of designing
again. Progress events are aggregated into one fraction
(`DesignProgress`); setting `cancel` stops the design at its next progress report (AutoNAD resumes
from its checkpoints if re-run on the same folder).

A family configured `like: OTHER` (``likes``, from the part-family config) is not searched: OTHER's
deployed model is fine-tuned on the dataset (`like_family`) and registered with origin `like_family`
and OTHER's model as its parent, for every design of the family (a forced redesign too: to search,
remove `like`). OTHER without a deployed model fails the design with one line (`LikeFamilyError`).
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import threading
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any

from bladecell_ros.services.db_outage import OutageGuard
from platform_control.cycle.design_progress import DesignProgress
from platform_control.cycle.refs import safe_name

DesignProgressCallback = Callable[[str, float, float, str], None]  # stage, stage fraction, overall, message


class DesignCancelled(RuntimeError):  # noqa: N818
    """The design was cancelled (operator abort, e-stop); its folder keeps the checkpoints."""


@dataclass(frozen=True)
class DesignOutcome:
    version: str
    model_dir: Path
    arch_json: str
    miou: float
    latency_ms: float
    latency_device: str
    deployed: bool
    like: str | None = None
    """The family whose architecture this model reuses (None: AutoNAD searched it)."""
    parent_version: str | None = None
    untrained_classes: tuple[str, ...] = ()
    """Defect classes without a labelled training pixel: the model cannot find them."""

    def __post_init__(self) -> None:
        object.__setattr__(self, "untrained_classes", tuple(self.untrained_classes))  # JSON gives lists

    def summary(self) -> str:
        """One line for the cycle's progress and the design action's result."""
        source = f"architecture of {self.like} ({self.parent_version}), no search; " if self.like else ""
        figures = f"mIoU {self.miou:.3f}, {self.latency_ms:.1f} ms on {self.latency_device}"
        return f"{self.version}: {source}{figures}{untrained_note(self.untrained_classes)}"


def untrained_note(classes: Sequence[str]) -> str:
    """'; no training examples of coating_loss: it cannot find them', or '' when every class had some."""
    if not classes:
        return ""
    return f"; no training examples of {', '.join(classes)}: it cannot find them (label some, then retrain)"


def new_model_version(family: str) -> str:
    """`<family>-<UTC time>-<6 hex>`: unique, sortable, within the registry's version pattern."""
    stem = re.sub(r"[^A-Za-z0-9_.\-]", "_", family)[:32].strip("._-") or "family"
    return f"{stem}-{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}-{uuid.uuid4().hex[:6]}"


def scalar_metrics(metrics: Mapping[str, Any]) -> dict[str, float]:
    """Finite numbers only, per-class dictionaries flattened (`iou.crack`), NaN (absent classes) left out."""
    out: dict[str, float] = {}
    for key, value in metrics.items():
        if isinstance(value, Mapping):
            for sub, v in scalar_metrics(value).items():
                out[f"{key}.{sub}"] = v
        elif isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value):
            out[key] = float(value)
    return out


def _sha256(path: Path) -> str | None:
    if not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _input_contract(model_dir: Path) -> dict[str, Any]:
    """Classes, channels and training input statistics from the model's `preprocess.json` (what
    corrections are checked against and the input-shift trigger's baseline); empty if absent."""
    path = model_dir / "preprocess.json"
    if not path.is_file():
        return {}
    pre = json.loads(path.read_text())
    channels = [str(c) for c in pre.get("channels", [])]
    stats = {
        c: {"mean": float(m), "std": float(s)}
        for c, m, s in zip(channels, pre.get("mean", []), pre.get("std", []), strict=False)
    }
    return {
        "class_names": [str(c) for c in pre.get("class_names", [])],
        "channels": channels,
        "input_stats": stats,
    }


#: written beside a designed model until it is registered (see `ModelDesigner._unregistered`)
UNREGISTERED = "unregistered.json"


def design_key(dataset_dir: Path, preset: str, device: str, target: str, overrides: Mapping[str, Any]) -> str:
    """What makes two designs the same: the dataset's description and splits (stems name each capture)
    and the AutoNAD settings. A re-exported dataset of the same captures has the same key."""
    digest = hashlib.sha256()
    for name in ("dataset.yaml", "train.txt", "val.txt"):
        path = Path(dataset_dir) / name
        digest.update(name.encode() + b"\0" + (path.read_bytes() if path.is_file() else b"") + b"\0")
    digest.update(json.dumps([preset, device, target, overrides], sort_keys=True, default=str).encode())
    return digest.hexdigest()


class ModelDesigner:
    """Runs AutoNAD and registers the result. ``design_fn`` is `autonad_core.design` (a fake in tests)."""

    def __init__(
        self,
        home: Path,
        registry: Any,
        *,
        preset: str = "cpu-small",
        device: str = "cpu",
        target_device: str = "cpu",
        overrides: Mapping[str, Any] | None = None,
        design_fn: Callable[..., Any] | None = None,
        outage: OutageGuard | None = None,
        likes: Mapping[str, str] | None = None,
        like_overrides: Mapping[str, Any] | None = None,
    ) -> None:
        self.outage = outage  # None: a database error while registering fails at once
        self.likes = dict(likes or {})  # family -> the family whose architecture its designs reuse
        self.like_overrides = dict(like_overrides or {})  # over the fine-tuning schedule of `like`
        self.home = Path(home)
        self.registry = registry
        self.preset = preset
        self.device = device
        self.target_device = target_device
        self.overrides = dict(overrides or {})
        self.design_fn = design_fn

    def _register_once(self, candidate: Any) -> Callable[[], None]:
        """Registration that may be repeated after a lost connection: the first attempt's commit may
        have landed without its answer, so a retry that finds the version already registered checks it
        is this very model (same family and weights) instead of failing with a conflict."""
        from database.errors import ConflictError

        attempts = 0

        def register() -> None:
            nonlocal attempts
            attempts += 1
            try:
                self.registry.register_candidate(candidate)
            except ConflictError:
                if attempts == 1:
                    raise
                existing = self.registry.get(candidate.version)
                if (existing.part_family, existing.weights_sha256) != (
                    candidate.part_family,
                    candidate.weights_sha256,
                ):
                    raise

        return register

    def run(
        self,
        family: str,
        dataset_dir: str | Path,
        *,
        preset: str | None = None,
        target_device: str | None = None,
        overrides: Mapping[str, Any] | None = None,
        deploy: bool = True,
        progress: DesignProgressCallback | None = None,
        cancel: threading.Event | None = None,
    ) -> DesignOutcome:
        design = self.design_fn
        if design is None:
            from autonad_core import design
        dataset_dir = Path(dataset_dir)
        if not (dataset_dir / "dataset.yaml").is_file():
            raise FileNotFoundError(f"{dataset_dir}: no dataset.yaml (export the labelled captures first)")
        target = target_device or self.target_device
        chosen = dict(overrides) if overrides is not None else dict(self.overrides)
        cancel = cancel or threading.Event()
        outage = self.outage or OutageGuard(0.0)
        bar = DesignProgress()

        def say(line: str) -> None:  # registration's lines (and the outage guard's) as progress
            if progress is not None:
                progress("register", 0.0, bar.overall, line)

        parent = self._like_parent(family, outage, say, cancel)
        if parent is None:
            key = design_key(dataset_dir, preset or self.preset, self.device, target, chosen)
        else:
            from bladecell_ros.services.like_family import LIKE_STAGE_WEIGHTS

            bar = DesignProgress(LIKE_STAGE_WEIGHTS)
            like = {"like": parent.version, "finetune": self.like_overrides}
            key = design_key(dataset_dir, "like", self.device, target, like)

        found = self._unregistered(family, key)
        if found is not None:  # designed before, the registration never went through: register that one
            pending, candidate, outcome = found
            say(f"registering {candidate.version}, designed from the same dataset before")
        else:
            version = new_model_version(family)
            out_dir = self.home / "models" / safe_name(family) / version

            def on_progress(event) -> None:
                if cancel.is_set():
                    raise DesignCancelled(f"design of {version} cancelled during {event.stage}")
                overall = bar.update(event.stage, event.fraction)
                if progress is not None:
                    progress(event.stage, float(event.fraction), overall, event.message)

            if parent is None:
                result = design(
                    dataset_dir,
                    out_dir,
                    preset=preset or self.preset,
                    device=self.device,
                    target_device=target,
                    progress=on_progress,
                    overrides=chosen,
                    show_progress=False,
                )
            else:
                from bladecell_ros.services.like_family import finetune_like

                result = finetune_like(
                    self._folder(parent.weights_path),
                    dataset_dir,
                    out_dir,
                    device=self.device,
                    target_device=target,
                    overrides=self.like_overrides,
                    progress=on_progress,
                )
            say(f"registering {version}")
            candidate, outcome = self._describe(
                family, version, dataset_dir, preset or self.preset, result, parent
            )
            pending = out_dir / UNREGISTERED
            pending.write_text(
                json.dumps(
                    {
                        "key": key,
                        "candidate": candidate.model_dump(mode="json"),
                        "outcome": {**asdict(outcome), "model_dir": str(outcome.model_dir)},
                    }
                )
            )
        version = candidate.version
        outage.call(f"registering {version}", self._register_once(candidate), notify=say, cancel=cancel)
        if deploy:  # idempotent: deploying the deployed model changes nothing
            outage.call(
                f"deploying {version}", lambda: self.registry.deploy(version), notify=say, cancel=cancel
            )
        pending.unlink(missing_ok=True)
        if progress is not None:
            progress("register", 1.0, 1.0, f"{version} registered" + (" and deployed" if deploy else ""))
        return replace(outcome, deployed=deploy)

    def _like_parent(
        self, family: str, outage: OutageGuard, say: Callable[[str], None], cancel: threading.Event
    ) -> Any:
        """The deployed model of the family ``family`` is configured like (None: not configured, so
        search); `LikeFamilyError` when that family has none."""
        like = self.likes.get(family)
        if like is None:
            return None
        from bladecell_ros.services.like_family import like_parent

        deployed = None
        if like != family:
            deployed = outage.call(
                f"looking up the deployed model of {like}",
                lambda: self.registry.deployed_for(like),
                notify=say,
                cancel=cancel,
            )
        return like_parent(family, like, deployed)

    def _folder(self, weights_path: str) -> Path:
        path = Path(weights_path)
        return path if path.is_absolute() else self.home / path

    def _describe(
        self, family: str, version: str, dataset_dir: Path, preset: str, result: Any, parent: Any = None
    ) -> tuple[Any, DesignOutcome]:
        """AutoNAD's result (or `like_family`'s, from the model ``parent``) -> the registry's candidate
        and the outcome the caller gets."""
        from database.orm import ModelOrigin
        from database.services import ModelCandidate, untrained_classes

        model_dir = Path(result.model_dir)
        rel = (
            model_dir.relative_to(self.home).as_posix()
            if model_dir.is_relative_to(self.home)
            else str(model_dir)
        )
        arch_text = Path(result.arch_json).read_text()
        metrics = scalar_metrics(result.metrics)
        contract = _input_contract(model_dir)
        lineage: dict[str, Any] = {}
        notes = f"AutoNAD preset {preset}, trained on {self.device}, {result.params} parameters"
        if parent is not None:
            contract["input_stats"] = result.input_stats  # this family's data, not the parent's
            lineage = {"origin": ModelOrigin.LIKE_FAMILY, "parent_version": parent.version}
            notes = (
                f"architecture of {parent.part_family} ({parent.version}), fine-tuned from its weights "
                f"on {self.device} instead of a search, {result.params} parameters"
            )
        candidate = ModelCandidate(
            version=version,
            part_family=family,
            architecture=json.loads(arch_text),
            metrics=metrics,
            latency_ms=float(result.latency_ms),
            latency_device=str(result.target_device),
            weights_path=rel,
            weights_sha256=_sha256(model_dir / "weights.pt"),
            dataset_snapshot=str(dataset_dir)[-200:],
            notes=notes,
            **lineage,
            **contract,
        )
        outcome = DesignOutcome(
            version=version,
            model_dir=model_dir,
            arch_json=arch_text,
            miou=float(metrics.get("miou", float("nan"))),
            latency_ms=float(result.latency_ms),
            latency_device=str(result.target_device),
            deployed=False,
            like=parent.part_family if parent is not None else None,
            parent_version=parent.version if parent is not None else None,
            untrained_classes=tuple(untrained_classes(metrics, candidate.class_names)),
        )
        return candidate, outcome

    def _unregistered(self, family: str, key: str) -> tuple[Path, Any, DesignOutcome] | None:
        """The newest model of ``family`` designed with ``key`` (same dataset and settings) whose
        registration did not go through (the database stayed away past the tolerance): the resumed
        cycle registers it instead of designing again."""
        from database.services import ModelCandidate

        folder = self.home / "models" / safe_name(family)
        for pending in sorted(folder.glob(f"*/{UNREGISTERED}"), reverse=True):
            try:
                data = json.loads(pending.read_text())
                if data.get("key") != key:
                    continue
                candidate = ModelCandidate.model_validate(data["candidate"])
                outcome = DesignOutcome(
                    **{**data["outcome"], "model_dir": Path(data["outcome"]["model_dir"])}
                )
            except (OSError, ValueError, KeyError, TypeError):
                continue  # unreadable: design again rather than guess
            if outcome.model_dir.is_dir():
                return pending, candidate, outcome
        return None
