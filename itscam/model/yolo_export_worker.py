"""Export worker, run by ``itscam model install|import`` under the training venv.

Standalone on purpose (imports nothing from ``itscam``): ``.venv-train`` has
torch, ultralytics and onnx, the main venv does not.

Exports an Ultralytics YOLO11 checkpoint (or, with ``--untrained NC``, a fresh
``yolo11n.yaml`` model) to ONNX at a fixed input size with a dynamic batch
dimension, then edits the graph so it honours the detector contract:

- input ``images`` float32 ``[N, 3, H, W]`` (only ``N`` dynamic);
- output ``output0`` float32 ``[N, 4 + k, A]``: box rows then class-score rows.
  With ``--class-rows 2,3,5,7`` only those class rows of the head are kept (in
  that order), by a ``Gather`` on axis 1 appended to the graph: this maps COCO's
  80 classes (car=2, motorcycle=3, bus=5, truck=7) to the four vehicle classes.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path


def _prepare_offline(config_dir: Path) -> None:
    os.environ["YOLO_OFFLINE"] = "1"
    os.environ["YOLO_CONFIG_DIR"] = str(config_dir)
    font = config_dir / "Ultralytics" / "Arial.ttf"
    font.parent.mkdir(parents=True, exist_ok=True)
    if not font.exists():
        ttfs = sorted(Path("/usr/share/fonts").rglob("*.ttf"))
        if ttfs:
            shutil.copy(ttfs[0], font)


def _untrained(nc: int, work: Path):
    import ultralytics
    import yaml
    from ultralytics import YOLO

    cfg = yaml.safe_load(
        (Path(ultralytics.__file__).parent / "cfg/models/11/yolo11.yaml").read_text()
    )
    cfg["nc"] = nc
    path = work / "yolo11n.yaml"  # the "n" in the name selects the nano scale
    path.write_text(yaml.safe_dump(cfg))
    return YOLO(str(path))


def _edit_graph(
    path: Path,
    out: Path,
    hw: tuple[int, int],
    class_rows: list[int] | None,
    names: list[str] | None,
) -> dict:
    import onnx
    from onnx import TensorProto, helper

    m = onnx.load(str(path))
    g = m.graph
    inp = g.input[0]
    if inp.name != "images":
        raise SystemExit(f"exported input is {inp.name!r}, expected 'images'")
    dims = inp.type.tensor_type.shape.dim
    dims[0].ClearField("dim_value")
    dims[0].dim_param = "batch"
    dims[2].ClearField("dim_param")
    dims[2].dim_value = hw[0]
    dims[3].ClearField("dim_param")
    dims[3].dim_value = hw[1]
    outp = g.output[0]
    if outp.name != "output0":
        raise SystemExit(f"exported output is {outp.name!r}, expected 'output0'")
    h, w = hw
    anchors = sum((h // s) * (w // s) for s in (8, 16, 32))
    nrows = outp.type.tensor_type.shape.dim[1].dim_value
    if class_rows is not None:
        bad = [r for r in class_rows if not 0 <= r < nrows - 4]
        if bad:
            raise SystemExit(f"class rows {bad} out of range: the model has {nrows - 4} classes")
        for node in g.node:
            for i, o in enumerate(node.output):
                if o == "output0":
                    node.output[i] = "output0_all_classes"
        idx = helper.make_tensor(
            "vehicle_rows",
            TensorProto.INT64,
            [4 + len(class_rows)],
            [0, 1, 2, 3] + [4 + r for r in class_rows],
        )
        g.initializer.append(idx)
        g.node.append(
            helper.make_node(
                "Gather",
                ["output0_all_classes", "vehicle_rows"],
                ["output0"],
                axis=1,
                name="select_vehicle_classes",
            )
        )
        nrows = 4 + len(class_rows)
    g.ClearField("output")
    g.output.append(
        helper.make_tensor_value_info("output0", TensorProto.FLOAT, ["batch", nrows, anchors])
    )
    if names is not None:
        for prop in m.metadata_props:
            if prop.key == "names":
                prop.value = str(dict(enumerate(names)))
    onnx.checker.check_model(m)
    onnx.save(m, str(out))
    return {"output_rows": nrows, "anchors": anchors, "input_hw": list(hw)}


def main() -> int:
    ap = argparse.ArgumentParser()
    src = ap.add_mutually_exclusive_group(required=True)
    src.add_argument("--weights", help="Ultralytics .pt checkpoint")
    src.add_argument(
        "--untrained",
        type=int,
        metavar="NC",
        help="export a freshly initialised yolo11n.yaml model with NC classes",
    )
    ap.add_argument("--save-pt", help="with --untrained: also save the model as this .pt")
    ap.add_argument("--out", required=True)
    # No default: the caller passes itscam.vision.INPUT_HW (this worker cannot import itscam).
    ap.add_argument("--imgsz", type=int, nargs=2, required=True, metavar=("H", "W"))
    ap.add_argument("--class-rows", default="", help="comma-separated class indices to keep")
    ap.add_argument("--names", default="", help="comma-separated class names of the result")
    ap.add_argument("--config-dir", default=str(Path(tempfile.gettempdir()) / "itscam-yolo"))
    args = ap.parse_args()
    _prepare_offline(Path(args.config_dir))
    import torch
    from ultralytics import YOLO, settings

    settings.update({"sync": False})
    torch.manual_seed(0)
    work = Path(tempfile.mkdtemp(prefix="itscam-export-"))
    try:
        if args.weights:
            weights = Path(args.weights).resolve()
            model = YOLO(str(weights))
        else:
            model = _untrained(args.untrained, work)
            if args.save_pt:
                model.save(str(Path(args.save_pt).resolve()))
        src_names = [model.names[i] for i in sorted(model.names)]
        os.chdir(work)
        exported = model.export(
            format="onnx", imgsz=tuple(args.imgsz), dynamic=True, opset=17, simplify=True
        )
        rows = [int(r) for r in args.class_rows.split(",") if r.strip()] or None
        names = [n for n in args.names.split(",") if n] or None
        out = Path(args.out).resolve()
        out.parent.mkdir(parents=True, exist_ok=True)
        info = _edit_graph(Path(exported), out, tuple(args.imgsz), rows, names)
        info.update(source_classes=len(src_names), out=str(out))
        print("EXPORT_RESULT " + json.dumps(info), flush=True)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
