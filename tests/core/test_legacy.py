"""Legacy `target`/`params` configs instantiate through the same path as `_target_`, and convert."""

import json
import textwrap

import pytest
import torch
from omegaconf import OmegaConf

from lalm_framework import instantiate
from lalm_framework.compat.legacy import is_legacy_node, legacy_learning_rate
from tests.core.legacy_models import Decoder, Encoder, Seq2Seq
from tests.helpers import REPO, run_cli

LEGACY = textwrap.dedent("""
    model:
      target: tests.core.legacy_models.Seq2Seq
      params:
        name: nested
        encoder:
          target: tests.core.legacy_models.Encoder
          params: {dim: 8, layers: 3}
        decoder:
          class_name: tests.core.legacy_models.Decoder
          params: {dim: 8}
        schedule: [1, 2, {target: tests.core.legacy_models.Encoder, params: {dim: 4}}]
""")


def test_legacy_nested_instantiates(tmp_path):
    cfg = OmegaConf.create(LEGACY)
    model = instantiate(cfg.model)
    assert model == Seq2Seq(encoder=Encoder(8, 3), decoder=Decoder(8), name="nested", schedule=[1, 2, Encoder(4)])


def test_converted_file_instantiates_to_equal_graph(tmp_path):
    src = tmp_path / "legacy.yaml"
    src.write_text(LEGACY)
    out = tmp_path / "converted.yaml"
    run_cli("lalm-convert-config", [str(src), "-o", str(out)], tmp_path, check=True)
    converted = OmegaConf.load(out)
    assert converted.model._target_ == "tests.core.legacy_models.Seq2Seq"
    assert converted.model.decoder._target_ == "tests.core.legacy_models.Decoder"
    assert "target" not in converted.model and "params" not in converted.model
    assert instantiate(converted.model) == instantiate(OmegaConf.load(src).model)
    # never over an existing file
    again = run_cli("lalm-convert-config", [str(src), "-o", str(out)], tmp_path)
    assert again.returncode != 0 and "exists" in again.stderr


def test_plain_data_named_target_is_not_legacy():
    assert not is_legacy_node({"target": "wer", "weight": 1.0})
    assert is_legacy_node({"target": "a.B", "params": {"x": 1}})


# as in the field (the LALM guide's model/qlora.yaml): keys beside target/params, at every level
WITH_SIBLINGS = textwrap.dedent("""
    base_learning_rate: 1.0e-4
    scale_lr: false
    target: tests.core.legacy_models.Seq2Seq
    params:
      name: qlora
      encoder:
        note: frozen whisper
        target: tests.core.legacy_models.Encoder
        params: {dim: 8}
      decoder:
        target: tests.core.legacy_models.Decoder
        params: {dim: 8, vocab: 32}
""")


def test_sibling_keys_do_not_build_the_object():
    model = instantiate(OmegaConf.create(WITH_SIBLINGS))  # before: a DictConfig, no error
    assert model == Seq2Seq(encoder=Encoder(8), decoder=Decoder(8, 32), name="qlora")
    assert is_legacy_node({"target": "a.B", "params": {}, "base_learning_rate": 1e-4})


def test_learning_rate_convention():
    node = OmegaConf.create(WITH_SIBLINGS)
    assert legacy_learning_rate(node, 8, 1, 1, 1) == pytest.approx(1e-4)  # scale_lr: false
    node.scale_lr = True  # lr = accumulate_grad_batches * num_devices * num_nodes * batch_size * base_lr
    assert legacy_learning_rate(node, 8, 2, 4, 3) == pytest.approx(2 * 4 * 3 * 8 * 1e-4)
    assert legacy_learning_rate(OmegaConf.create({"_target_": "a.B", "base_learning_rate": 1.0}), 8, 1, 1, 1) is None


def test_converter_names_what_it_cannot_convert(tmp_path):
    src = tmp_path / "qlora.yaml"
    src.write_text(WITH_SIBLINGS)
    proc = run_cli("lalm-convert-config", [str(src), "-o", str(tmp_path / "out.yaml")], tmp_path)
    assert proc.returncode == 1  # before: exit 0 with the top level left unconverted
    assert "params.encoder.note" in proc.stderr, proc.stderr
    assert "base_learning_rate" not in proc.stderr and "scale_lr" not in proc.stderr  # those have names there
    assert not (tmp_path / "out.yaml").exists()


# seed 000's own model/qlora.yaml shape: only the learning-rate keys beside target/params
SEED_QLORA = textwrap.dedent("""
    base_learning_rate: 1.0e-3
    scale_lr: true
    target: tests.core.ldm_models.LdmDigitsClassifier
    params:
      hidden: 16
""")


def test_converter_maps_the_learning_rate_keys_and_lalm_train_reads_both_forms_alike(tmp_path):
    # before: refused ("these keys sit beside target/params: base_learning_rate, scale_lr")
    (tmp_path / "conf" / "model").mkdir(parents=True)
    legacy = tmp_path / "conf" / "model" / "legacy.yaml"
    legacy.write_text(SEED_QLORA)
    converted = tmp_path / "conf" / "model" / "converted.yaml"
    run_cli("lalm-convert-config", [str(legacy), "-o", str(converted)], tmp_path, check=True)
    node = OmegaConf.load(converted)
    assert node._target_ == "tests.core.ldm_models.LdmDigitsClassifier" and node.hidden == 16
    assert node._base_learning_rate_ == 1e-3 and node._scale_lr_ is True
    assert "base_learning_rate" not in node and "target" not in node
    assert legacy_learning_rate(node, 64, 2, 1, 1) == legacy_learning_rate(OmegaConf.load(legacy), 64, 2, 1, 1)
    assert instantiate(node).hparams.hidden == 16  # the reserved keys are not constructor arguments
    rates = []
    for name in ("legacy", "converted"):
        args = ["--config-dir", "conf", "experiment=digits", f"model={name}", "trainer.max_epochs=1"]
        args += ["trainer.limit_train_batches=2", "trainer.accumulate_grad_batches=2", "logger=none"]
        run_cli("lalm-train", [*args, f"hydra.run.dir={name}"], tmp_path, env={"PYTHONPATH": str(REPO)}, check=True)
        record = json.loads((tmp_path / name / "run.json").read_text())
        rates.append(record["attempts"][-1]["learning_rate"])
    assert rates[0] == rates[1] == pytest.approx(2 * 64 * 1e-3)


def test_lalm_train_builds_a_legacy_model_file_and_scales_its_learning_rate(tmp_path):
    (tmp_path / "conf" / "model").mkdir(parents=True)
    (tmp_path / "conf" / "model" / "ldm_digits.yaml").write_text(
        textwrap.dedent("""
            base_learning_rate: 1.0e-3
            scale_lr: true
            target: tests.core.ldm_models.LdmDigitsClassifier
            params:
              hidden: 16
        """)
    )
    args = ["--config-dir", "conf", "experiment=digits", "model=ldm_digits", "trainer.max_epochs=1"]
    args += [
        "trainer.accumulate_grad_batches=2",
        "logger=none",
        "hydra.run.dir=run",
        "trainer.enable_progress_bar=false",
    ]
    run_cli("lalm-train", args, tmp_path, env={"PYTHONPATH": str(REPO)}, check=True)  # before: KeyError '_target_'
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    lr = 2 * 1 * 1 * 64 * 1e-3  # accumulate 2, one device, one node, batch 64
    assert record["attempts"][-1]["learning_rate"] == pytest.approx(lr)
    ckpt = torch.load(tmp_path / "run" / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    assert ckpt["optimizer_states"][0]["param_groups"][0]["lr"] == pytest.approx(lr)
