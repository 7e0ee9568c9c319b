"""Benchmark: one simulated inspection cycle on the real ROS 2 graph, with and without model design.

    .venv/bin/python benchmarks/cell_cycle.py [--binning 4 | --resolution 256] [--unseen 3]
        [--viewpoints 0] [--realtime] [--json F]

Brings up the simulated cell (`bladecell up --sim`'s graph, the defaults of config/cell_sim.yaml) in a
fresh temporary $BLADECELL_HOME, then:
1. cycle 1 for a new part family: LOAD, SCAN, DESIGN (AutoNAD on the scanned, labelled captures with
   the cell's design budget), DETECT, RECORD, UNLOAD — wall time seen by the client + per-stage time;
2. `--unseen` more cycles (default 3) for the same family with the deployed model (no design). The
   simulated operator puts the next blade of the family (next seed: same generator, its own shape
   and defects) into the tray after a blade went to the reject bin; each cycle reports the blade seed
   it inspected and whether the design saw it, so a passed blade inspected twice is not counted as
   unseen;
3. per class pixel IoU and object recall / precision against the simulator's ground truth
   (`platform_control.defect_scoring`), per cycle and pooled over the unseen blades;
4. detector throughput on CPU: the deployed model alone (the detector's tiled predictor, images/s at
   the cell's frame size) and through the detector node (`detector/detect` service round trips: load the
   capture from the store, infer, extract defect records, store the mask).
The machine may be shared with other work: say so when quoting the numbers.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import yaml


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--resolution", type=int, default=0, help="frame size (0: cell_sim.yaml's)")
    parser.add_argument(
        "--binning", type=int, default=-1, help="whole sensor binned N x N (-1: cell_sim.yaml's)"
    )
    parser.add_argument("--unseen", type=int, default=3, help="cycles after the design (other blades)")
    parser.add_argument(
        "--viewpoints", type=int, default=-1, help="max viewpoints (-1: cell_sim.yaml's, 0: all)"
    )
    parser.add_argument(
        "--realtime", action="store_true", help="pace the simulator to physical time (motion, exposures)"
    )
    parser.add_argument("--family", default="BENCH-SMALL")
    parser.add_argument("--repeats", type=int, default=20, help="detector timing passes over the captures")
    parser.add_argument("--params", type=Path, action="append", default=[], help="extra ROS parameter files")
    parser.add_argument("--json", type=Path, help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the temporary data root")
    args = parser.parse_args()

    home = Path(tempfile.mkdtemp(prefix="bladecell-bench-"))
    os.environ["BLADECELL_HOME"] = str(home)
    os.environ.pop("BLADECELL_DATABASE_URL", None)
    from bladecell_ros.bringup.session import migrate_database, prepare_environment

    prepare_environment()
    migrate_database()
    overlay: dict = {}
    sim: dict = {}
    if args.resolution:
        sim.update(resolution=args.resolution, binning=0)  # a square frame instead of the binned sensor
    if args.binning >= 0:
        sim["binning"] = args.binning
    if args.realtime:
        sim.update(timing="realtime", speed=1.0)
    if sim:
        overlay["sim_cell"] = {"ros__parameters": sim}
    if args.viewpoints >= 0:
        overlay["cell_coordinator"] = {"ros__parameters": {"max_viewpoints": args.viewpoints}}
    params = list(args.params)
    if overlay:
        params.append(home / "bench_params.yaml")
        params[-1].write_text(yaml.safe_dump(overlay))

    from bladecell_ros.bringup.cell_graph import CellGraph
    from bladecell_ros.bringup.graph import SIM_PARAMS
    from bladecell_ros.services.capture_store import CaptureStore
    from bladecell_ros.services.evaluation import cycle_scores
    from bladecell_ros.transport.client import CellClient
    from bladecell_ros.transport.ros_calls import ServiceProxy
    from std_srvs.srv import Trigger

    from platform_control.cycle.detections import DetectionsFile
    from platform_control.defect_scoring import format_scores, score_views

    graph = CellGraph([SIM_PARAMS, *params], home / "logs")
    results: dict = {
        "machine": f"{os.cpu_count()} CPU cores (possibly shared)",
        "timing": "realtime" if args.realtime else "deterministic (physics as fast as the CPU allows)",
        "home": str(home),
    }
    t0 = time.perf_counter()
    graph.start()
    client = CellClient()
    try:
        graph.wait_discovered(client.node_names, 180)
        client.wait_for_coordinator(120)
        results["bringup_s"] = round(time.perf_counter() - t0, 2)
        print(f"cell up in {results['bringup_s']} s (logs {home / 'logs'})", flush=True)
        store = CaptureStore(home)
        cycles = [("with_design", "BENCH-0001")]
        cycles += [(f"unseen_{n}", f"BENCH-{n + 2:04d}") for n in range(args.unseen)]
        seeds: list[int] = []
        views: list = []
        sim_state = ServiceProxy(client.node, Trigger, "sim/state", "sim")
        for label, serial in cycles:
            start = time.perf_counter()
            result = client.inspect(serial, args.family, timeout=3600)
            wall = time.perf_counter() - start
            if result.final_state != "DONE":
                raise SystemExit(f"cycle {label} ended {result.final_state}: {result.message}")
            detections = DetectionsFile.of_cycle(home, args.family, result.cycle_id)
            if detections is None:
                raise SystemExit(f"cycle {label}: no detections file")
            iou = cycle_scores(store, detections)
            # after the cycle the inspected blade is still in the world (restocking waits for the next LOAD)
            seeds.append(json.loads(sim_state.call(Trigger.Request(), timeout=20.0).message)["blade"]["seed"])
            if label != "with_design" and seeds[-1] != seeds[0]:
                views += labelled_views(store, detections)
            results[label] = {
                "blade_seed": seeds[-1],
                "seen_by_design": seeds[-1] == seeds[0],
                "wall_s": round(wall, 2),
                "stages_s": json.loads(result.stage_timings_json),
                "viewpoints": len(store.refs(args.family, cycle_id=result.cycle_id)),
                "defects": result.defect_count,
                "verdict": result.verdict,
                "model": result.model_version,
                "defect_iou": None if iou["defect_iou"] is None else round(iou["defect_iou"], 4),
                "iou_per_class": iou["per_class"],
                "objects": iou["objects"],
            }
            print(f"{label}: {json.dumps(results[label])}", flush=True)
        if views:
            pooled = score_views([(p, t) for p, t, _ in views], views[0][2])
            results["unseen_pooled"] = {
                "blades": sorted({s for s in seeds[1:] if s != seeds[0]}),
                "iou_per_class": pooled["per_class"],
                "objects": pooled["objects"],
            }
            print(f"unseen blades pooled: {format_scores(pooled)}", flush=True)
        results["detector"] = detector_throughput(client, store, home, args.family, args.repeats)
        print(f"detector: {json.dumps(results['detector'])}", flush=True)
    finally:
        client.close()
        graph.stop()
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    if not args.keep:
        import shutil

        shutil.rmtree(home, ignore_errors=True)


def labelled_views(store, detections) -> list:
    """(predicted mask, ground truth, class names) of every labelled capture of a cycle."""
    out = []
    for entry in detections.captures.values():
        stored = store.load(entry.capture_ref)
        if stored.label is not None:
            predicted = store.files.read_image(entry.mask_path, entry.mask_sha256, grey=True)
            out.append((predicted, stored.label, stored.label_classes))
    return out


def detector_throughput(client, store, home: Path, family: str, repeats: int) -> dict:
    """Images/s of the deployed model in-process, and of the detector node's service (end to end)."""
    from bladecell_interfaces.srv import Detect
    from bladecell_ros.services.detection import load_autonad_detector
    from bladecell_ros.transport.ros_calls import ServiceProxy

    from database.services import ModelRegistry

    info = ModelRegistry().deployed_for(family)
    model_dir = Path(info.weights_path) if Path(info.weights_path).is_absolute() else home / info.weights_path
    refs = store.refs(family)
    detector = load_autonad_detector("cpu", 1)(model_dir)  # tiled, as the detector node runs it
    images = [np.moveaxis(store.load(r, channels=detector.channels).capture.frames, 0, -1) for r in refs]
    for image in images[:3]:
        detector.predict(image)  # warm-up
    times = []
    for _ in range(repeats):
        for image in images:
            start = time.perf_counter()
            detector.predict(image)
            times.append(time.perf_counter() - start)
    service = ServiceProxy(client.node, Detect, "detector/detect", "detector")
    node_times = []
    for _ in range(max(1, repeats // 4)):
        for ref in refs:
            start = time.perf_counter()
            response = service.call(Detect.Request(part_family=family, capture_ref=ref), timeout=120)
            node_times.append(time.perf_counter() - start)
            assert response.success, response.message
    h, w = images[0].shape[:2]
    return {
        "model": info.version,
        "frame": f"{w}x{h}x{images[0].shape[2]}",
        "model_images_per_s": round(1.0 / statistics.median(times), 2),
        "model_ms_median": round(1e3 * statistics.median(times), 2),
        "node_images_per_s": round(1.0 / statistics.median(node_times), 2),
        "node_ms_median": round(1e3 * statistics.median(node_times), 2),
        "latency_ms_registered": info.latency_ms,
    }


def report(results: dict) -> None:
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"simulated cycles on {results['machine']}, {results['timing']} timing")
    table.add_column("")
    labels = [k for k in results if k == "with_design" or (k.startswith("unseen_") and k[7:].isdigit())]
    for label in labels:
        table.add_column(label.replace("_", " "))
    cycles = [results[k] for k in labels]
    table.add_row(
        "blade seed (seen by design)", *(f"{c['blade_seed']} ({c['seen_by_design']})" for c in cycles)
    )
    table.add_row("wall time (s)", *(str(c["wall_s"]) for c in cycles))
    for stage in ("LOADING", "SCANNING", "DESIGNING", "DETECTING", "RECORDING", "UNLOADING"):
        table.add_row(f"  {stage.lower()} (s)", *(str(c["stages_s"].get(stage, "-")) for c in cycles))
    table.add_row("viewpoints", *(str(c["viewpoints"]) for c in cycles))
    table.add_row("defects / verdict", *(f"{c['defects']} / {c['verdict']}" for c in cycles))
    table.add_row("defect IoU vs ground truth", *(str(c["defect_iou"]) for c in cycles))
    for name in cycles[0]["objects"]:
        table.add_row(
            f"  {name}: IoU, recall",
            *(_class_cell(c["iou_per_class"].get(name), c["objects"][name]) for c in cycles),
        )
    Console().print(table)
    if "unseen_pooled" in results:
        pooled = results["unseen_pooled"]
        Console().print(
            f"unseen blades {pooled['blades']} pooled: "
            + "; ".join(
                f"{n} {_class_cell(pooled['iou_per_class'].get(n), o)}" for n, o in pooled["objects"].items()
            )
        )
    d = results["detector"]
    Console().print(
        f"detector on CPU ({d['frame']} frames): model {d['model_images_per_s']} images/s "
        f"({d['model_ms_median']} ms), through the detector node {d['node_images_per_s']} images/s "
        f"({d['node_ms_median']} ms); bring-up {results['bringup_s']} s"
    )


def _class_cell(iou: float | None, objects: dict) -> str:
    iou_text = "-" if iou is None else f"{iou:.2f}"
    found, precision = f"{objects['found']}/{objects['true']}", f"{objects['correct']}/{objects['predicted']}"
    return f"{iou_text}, {found} (precision {precision})"


if __name__ == "__main__":
    sys.exit(main())
