from __future__ import annotations

import json

import pytest
from google.protobuf import text_format
from tritonclient.grpc import model_config_pb2

from itscam.errors import ConfigError
from itscam.inference import repository as repo
from itscam.inference.repository import (
    DETECTOR,
    ENSEMBLE,
    MODELS,
    NMS,
    PROFILES,
    SOURCE_REPOSITORY,
    config_json,
    describe,
    render,
    render_text,
)
from itscam.vision import INPUT_HW


def _parse(text: str) -> model_config_pb2.ModelConfig:
    return text_format.Parse(text, model_config_pb2.ModelConfig())


@pytest.mark.parametrize("name", MODELS)
def test_committed_local_configs_equal_the_rendered_ones(name):
    committed = (SOURCE_REPOSITORY / name / "config.pbtxt").read_text()
    assert committed == render_text("local", name), (
        f"triton_models/{name}/config.pbtxt is stale: run `itscam triton render --profile local`"
    )


@pytest.fixture(params=PROFILES)
def rendered(request, tmp_path):
    render(request.param, tmp_path)
    configs = {name: _parse((tmp_path / name / "config.pbtxt").read_text()) for name in MODELS}
    return request.param, tmp_path, configs


def test_rendered_configs_parse_with_tritons_schema_and_match_their_directories(rendered):
    _, root, configs = rendered
    for name, cfg in configs.items():
        assert cfg.name == name
        assert (root / name / "1").is_dir()
        assert cfg.max_batch_size > 0


def test_every_scheduled_model_batches_dynamically(rendered):
    _, _, configs = rendered
    for name, cfg in configs.items():
        if cfg.platform == "ensemble":
            continue
        assert cfg.HasField("dynamic_batching"), name
        preferred = list(cfg.dynamic_batching.preferred_batch_size)
        assert preferred and max(preferred) <= cfg.max_batch_size, name
        assert cfg.dynamic_batching.max_queue_delay_microseconds > 0, name
        assert cfg.instance_group and cfg.instance_group[0].count >= 1, name


def _io(cfg):
    ins = {t.name: (t.data_type, list(t.dims)) for t in cfg.input}
    outs = {t.name: (t.data_type, list(t.dims)) for t in cfg.output}
    return ins, outs


def test_ensemble_wiring_is_consistent(rendered):
    """Every step's inputs come from the ensemble input or an earlier step, with matching types."""
    _, _, configs = rendered
    ens = configs[ENSEMBLE]
    ens_in, ens_out = _io(ens)
    available = dict(ens_in)
    for step in ens.ensemble_scheduling.step:
        assert step.model_name in configs
        assert configs[step.model_name].max_batch_size >= ens.max_batch_size
        model_in, model_out = _io(configs[step.model_name])
        assert set(step.input_map) == set(model_in), step.model_name
        for model_tensor, ens_tensor in step.input_map.items():
            assert ens_tensor in available, f"{step.model_name} reads {ens_tensor} before it exists"
            assert available[ens_tensor][0] == model_in[model_tensor][0]
            if ens_tensor not in ens_in:  # fixed-shape tensors must agree exactly
                assert available[ens_tensor][1] == model_in[model_tensor][1]
        for model_tensor, ens_tensor in step.output_map.items():
            available[ens_tensor] = model_out[model_tensor]
    for name, spec in ens_out.items():
        assert available[name] == spec


def test_profiles_differ_where_they_should(rendered):
    profile, _, configs = rendered
    det = configs[DETECTOR]
    if profile == "local":
        assert det.backend == "python"
        assert all(
            g.kind == model_config_pb2.ModelInstanceGroup.KIND_CPU for g in det.instance_group
        )
        # Two instances of one ONNX Runtime thread: the model has both cores in all.
        threads = int(det.parameters["intra_op_threads"].string_value)
        assert sum(g.count for g in det.instance_group) * threads == 2
        # The python detector scales uint8 input itself: a quarter of the bytes cross
        # the stubs' shared memory.
        assert det.input[0].data_type == model_config_pb2.TYPE_UINT8
    else:
        assert det.backend == "onnxruntime"
        assert det.input[0].data_type == model_config_pb2.TYPE_FP32  # as exported
        assert det.instance_group[0].kind == model_config_pb2.ModelInstanceGroup.KIND_GPU
        (trt,) = det.optimization.execution_accelerators.gpu_execution_accelerator
        assert trt.name == "tensorrt" and trt.parameters["precision_mode"] == "FP16"
        assert det.max_batch_size >= 16
        assert det.model_warmup[0].batch_size <= det.max_batch_size
        h, w = INPUT_HW
        assert trt.parameters["trt_profile_max_shapes"] == f"images:{det.max_batch_size}x3x{h}x{w}"
        assert list(det.model_warmup[0].inputs["images"].dims) == [3, h, w]


def test_every_tensor_shape_derives_from_the_one_input_size(rendered):
    _, _, configs = rendered
    h, w = INPUT_HW
    pre, det, post = configs["preprocess"], configs["yolo11n"], configs["postprocess"]
    params = {k: v.string_value for k, v in pre.parameters.items()}
    assert (int(params["input_height"]), int(params["input_width"])) == (h, w)
    images = {t.name: list(t.dims) for t in pre.output}["images"]
    assert images == list(det.input[0].dims) == [3, h, w]
    anchors = (h // 8) * (w // 8) + (h // 16) * (w // 16) + (h // 32) * (w // 32)
    assert list(det.output[0].dims) == list(post.input[0].dims) == [8, anchors]
    assert (INPUT_HW, anchors) == ((544, 960), 10710)


def test_postprocess_thresholds_come_from_the_one_description(rendered):
    _, _, configs = rendered
    params = {k: v.string_value for k, v in configs["postprocess"].parameters.items()}
    assert float(params["conf_threshold"]) == NMS.conf_threshold
    assert float(params["iou_threshold"]) == NMS.iou_threshold
    detections = next(t for t in configs["postprocess"].output if t.name == "detections")
    assert list(detections.dims) == [NMS.max_detections, 6]


def test_render_out_of_tree_copies_python_models_and_the_onnx(tmp_path):
    onnx = tmp_path / "m.onnx"
    onnx.write_bytes(b"onnx")
    written = render("t4", tmp_path / "out", onnx)
    assert (tmp_path / "out/preprocess/1/model.py").read_text() == (
        SOURCE_REPOSITORY / "preprocess/1/model.py"
    ).read_text()
    assert (tmp_path / "out/yolo11n/1/model.onnx").read_bytes() == b"onnx"
    assert not (tmp_path / "out/yolo11n/1/model.py").exists()  # t4 runs ORT's own backend
    assert len(written) == 4 + 2 + 1


def test_config_json_override_is_a_full_valid_config():
    text = config_json(DETECTOR, version_policy={"specific": {"versions": [2]}})
    cfg = repo.to_message(json.loads(text))
    assert list(cfg.version_policy.specific.versions) == [2]
    assert cfg.backend == "python" and cfg.dynamic_batching.preferred_batch_size


def test_unknown_profile_is_a_config_error():
    with pytest.raises(ConfigError, match="Unknown Triton profile 'a100'"):
        describe("a100")


def test_cli_renders_t4_into_a_directory(tmp_path, capsys):
    assert repo.main(["--profile", "t4", "--out", str(tmp_path)]) == 0
    assert "rendered profile t4" in capsys.readouterr().out
    assert _parse((tmp_path / "yolo11n/config.pbtxt").read_text()).backend == "onnxruntime"
