"""Legacy `target`/`params` configs instantiate through the same path as `_target_`, and convert."""

import textwrap

from omegaconf import OmegaConf

from lalm_framework import instantiate
from lalm_framework.compat.legacy import is_legacy_node
from tests.core.legacy_models import Decoder, Encoder, Seq2Seq
from tests.helpers import run_cli

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
