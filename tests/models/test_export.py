"""`lalm-export` and `load_pretrained`: tiny (standalone), LoRA and QLoRA on locally saved bases.

An export loads without Lightning, Hydra or pickle and gives exactly the checkpoint's greedy
transcripts; its adapter loads with peft alone; `--merge` gives a plain AutoModelForCausalLM whose
logits match the unmerged model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from tiny_lalm import randomize_lora, sample_files, save_checkpoint, speech_batch, tiny_kwargs

from lalm_framework.errors import UserError
from lalm_framework.inference.export import export_checkpoint
from lalm_framework.inference.pretrained import load_pretrained
from lalm_framework.inference.trained_model import load_checkpoint_model
from tests.helpers import cli_env, read_only_place, run_cli

LORA = {"enabled": True, "r": 4, "alpha": 8, "dropout": 0.0, "target_modules": "all-linear"}


def _files(n=6):
    return [str(f) for f in sample_files("dev", n)]


def _same_model(ckpt: Path, export: Path) -> None:
    """Same weights, bit-equal logits and identical greedy transcripts from checkpoint and export."""
    from lalm_framework.inference.transcribe import transcribe

    module = load_checkpoint_model(ckpt).eval()
    loaded = load_pretrained(export)
    a, b = module.model.state_dict(), loaded.model.state_dict()
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k
    batch = speech_batch(module, split="dev", n=3)
    with torch.no_grad():
        assert torch.equal(module(batch).logits, loaded.model(**_inputs(batch)).logits)
    from lalm_framework.data.manifest import read_audio_paths

    rows = transcribe(module, read_audio_paths(_files()), progress=False)
    hyps = loaded.transcribe(_files())
    assert hyps == [r["hypothesis"] for r in rows]
    assert any(hyps), "empty transcripts would make this comparison weak"


def _inputs(batch):
    keys = ("input_features", "feature_lengths", "input_ids", "attention_mask", "labels")
    return {k: batch[k] for k in keys}


# --- model=tiny: everything random-init, the export stands alone ----------------------------
@pytest.fixture(scope="module")
def tiny_ckpt(tmp_path_factory):
    from lalm_framework.models.lalm_module import LalmModule

    torch.manual_seed(0)
    return save_checkpoint(LalmModule(**tiny_kwargs()), tmp_path_factory.mktemp("tiny") / "last.ckpt")


@pytest.fixture(scope="module")
def tiny_export(tiny_ckpt, tmp_path_factory):
    out = tmp_path_factory.mktemp("exports") / "tiny"
    result = export_checkpoint(tiny_ckpt, out)
    assert any("no run.json" in n for n in result.notes)  # a bare checkpoint: thinner card, said so
    return out


def test_tiny_export_is_standalone_and_equals_the_checkpoint(tiny_ckpt, tiny_export):
    files = {str(p.relative_to(tiny_export)) for p in tiny_export.rglob("*") if p.is_file()}
    assert {"lalm_config.json", "README.md", "encoder.safetensors", "projector.safetensors", "llm.safetensors"} <= files
    assert "tokenizer/tokenizer.json" in files and not any(f.endswith((".ckpt", ".bin", ".pt")) for f in files)
    meta = json.loads((tiny_export / "lalm_config.json").read_text())
    assert meta["base_models"] == {"encoder": None, "llm": None}
    assert meta["prompt"]["prompt_template"] == "<|audio|>{prompt}"
    assert "No `run.json` was found" in (tiny_export / "README.md").read_text()
    _same_model(tiny_ckpt, tiny_export)


def test_load_pretrained_needs_no_lightning_hydra_or_pickle(tiny_ckpt, tiny_export, tmp_path):
    # moved elsewhere: nothing outside the folder is needed (the checkpoint is gone too)
    moved = tmp_path / "moved"
    shutil.copytree(tiny_export, moved)
    expected = load_pretrained(tiny_export).transcribe(_files(3))
    code = f"""
import json, pickle, sys, torch
def no_pickle(*a, **k):
    raise AssertionError("load_pretrained unpickled something")
torch.load = no_pickle
pickle.load = pickle.loads = no_pickle
import lalm_framework
model = lalm_framework.load_pretrained({str(moved)!r})
hyps = model.transcribe({_files(3)!r})
heavy = sorted({{m.split(".")[0] for m in sys.modules if m.split(".")[0] in
                ("pytorch_lightning", "lightning", "lightning_fabric", "hydra", "torchmetrics")}})
print(json.dumps({{"hyps": hyps, "heavy": heavy}}))
"""
    proc = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=300, cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["heavy"] == []
    assert out["hyps"] == expected


def test_lalm_infer_accepts_an_export_folder_with_the_same_results(tiny_ckpt, tiny_export, tmp_path):
    from lalm_framework.inference.inputs import read_inputs
    from lalm_framework.inference.transcribe import transcribe, wer_of

    manifest = tmp_path / "dev.jsonl"
    manifest.write_text("".join(json.dumps({"audio": f, "text": "turn on the light"}) + "\n" for f in _files(6)))
    out = tmp_path / "export.jsonl"
    proc = run_cli("lalm-infer", [str(tiny_export), str(manifest), "--out", str(out), "--no-progress"], tmp_path)
    assert proc.returncode == 0, proc.stderr[-2000:]
    # the checkpoint's rows, as lalm-infer on it computes them (its CLI is tested in tests/training)
    expected = transcribe(load_checkpoint_model(tiny_ckpt).eval(), read_inputs([manifest]), progress=False)
    assert [json.loads(line) for line in out.read_text().splitlines()] == expected
    assert f"WER {100 * wer_of(expected):.2f}% on 6 utterances" in proc.stdout


def test_export_refuses_a_non_empty_folder_unless_overwrite(tiny_ckpt, tmp_path):
    out = tmp_path / "taken"
    out.mkdir()
    (out / "notes.txt").write_text("mine")
    proc = run_cli("lalm-export", [str(tiny_ckpt), str(out)], cwd=tmp_path, timeout=120)
    assert proc.returncode == 1 and "not empty" in proc.stderr and "--overwrite" in proc.stderr
    assert "Traceback" not in proc.stderr and (out / "notes.txt").read_text() == "mine"
    export_checkpoint(tiny_ckpt, out, overwrite=True)
    assert (out / "lalm_config.json").is_file() and not (out / "notes.txt").exists()
    with pytest.raises(UserError, match="holds the checkpoint"):
        export_checkpoint(tiny_ckpt, tiny_ckpt.parent, overwrite=True)


def test_a_damaged_export_gives_short_errors(tiny_export, tmp_path):
    broken = tmp_path / "broken"
    shutil.copytree(tiny_export, broken)
    (broken / "projector.safetensors").unlink()
    with pytest.raises(UserError, match=r"Cannot read .*projector\.safetensors"):
        load_pretrained(broken)
    meta = json.loads((broken / "lalm_config.json").read_text())
    meta["weights"]["projector"] = None
    (broken / "lalm_config.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"lacks weights the model needs \(projector\."):
        load_pretrained(broken)
    meta["weights"]["projector"] = "projector.safetensors"
    with pytest.raises(UserError, match="not a model exported by lalm-export"):
        load_pretrained(tmp_path)
    # weights of another model size
    shutil.copy(tiny_export / "projector.safetensors", broken / "projector.safetensors")
    meta["model"]["projector"]["stack"] = 2
    (broken / "lalm_config.json").write_text(json.dumps(meta))
    with pytest.raises(UserError, match=r"projector\.safetensors does not fit this model: .* there but .* here"):
        load_pretrained(broken)


# --- LoRA / QLoRA on locally saved "pretrained" Whisper + Llama ------------------------------
def _pretrained_module(whisper: Path, llama: Path, four_bit: bool = False, **over):
    from lalm_framework.models.lalm_module import LalmModule

    llm = {"path": str(llama), "dtype": "float32"}
    if four_bit:
        llm["quantization"] = {"load_in_4bit": True, "quant_type": "nf4", "compute_dtype": "float32"}
    torch.manual_seed(0)
    module = LalmModule(
        **tiny_kwargs(encoder={"path": str(whisper), "freeze": True}, llm=llm, lora=dict(LORA), tokenizer={}, **over)
    )
    randomize_lora(module)
    return module


@pytest.fixture(scope="module")
def lora_ckpt(saved_tiny_whisper, saved_tiny_llama, tmp_path_factory):
    module = _pretrained_module(saved_tiny_whisper, saved_tiny_llama, unfreeze=[r"llm\..*norm"])
    return save_checkpoint(module, tmp_path_factory.mktemp("lora") / "last.ckpt")


def test_lora_export_adapter_loads_with_peft_alone(lora_ckpt, saved_tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "lora"
    export_checkpoint(lora_ckpt, out)
    assert (out / "adapter" / "adapter_config.json").is_file()
    assert (out / "adapter" / "adapter_model.safetensors").is_file()
    assert not (out / "encoder.safetensors").exists()  # the frozen pretrained encoder reloads from its path
    assert (out / "llm.safetensors").is_file()  # the unfrozen norms: trained, but not LoRA
    meta = json.loads((out / "lalm_config.json").read_text())
    assert meta["base_models"]["llm"] == str(saved_tiny_llama)

    module = load_checkpoint_model(lora_ckpt).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    peft_only = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(saved_tiny_llama), out / "adapter")
    peft_only.load_state_dict(
        {f"{k}": v for k, v in module.model.llm.state_dict().items() if "norm" in k}, strict=False
    )
    with torch.no_grad():
        torch.testing.assert_close(peft_only(ids).logits, module.model.llm(ids).logits, rtol=0, atol=1e-6)
    _same_model(lora_ckpt, out)


def test_merged_export_is_a_plain_causal_lm_with_the_same_logits(lora_ckpt, tmp_path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    out = tmp_path / "merged"
    export_checkpoint(lora_ckpt, out, merge=True)
    assert not (out / "adapter").exists() and (out / "llm" / "config.json").is_file()
    merged = AutoModelForCausalLM.from_pretrained(out / "llm")
    assert "<|audio|>" in AutoTokenizer.from_pretrained(out / "llm").get_vocab()
    module = load_checkpoint_model(lora_ckpt).eval()
    ids = torch.tensor([[1, 5, 9, 14, 3, 22, 7]])
    with torch.no_grad():
        unmerged, plain = module.model.llm(ids).logits, merged(ids).logits
        with module.model.llm.disable_adapter():
            base = module.model.llm(ids).logits
    assert (unmerged - base).abs().max() > 1e-2  # the LoRA matters
    torch.testing.assert_close(plain, unmerged, rtol=0, atol=1e-4)
    loaded = load_pretrained(out)
    assert loaded.transcribe(_files(2)) and not hasattr(loaded.model.llm, "peft_config")


@pytest.fixture(scope="module")
def qlora_ckpt(saved_tiny_whisper, saved_tiny_llama, tmp_path_factory):
    module = _pretrained_module(saved_tiny_whisper, saved_tiny_llama, four_bit=True)
    return save_checkpoint(module, tmp_path_factory.mktemp("qlora") / "last.ckpt")


def test_qlora_export_equals_the_checkpoint(qlora_ckpt, tmp_path):
    import bitsandbytes as bnb

    out = tmp_path / "qlora"
    export_checkpoint(qlora_ckpt, out)
    assert (out / "adapter" / "adapter_model.safetensors").is_file() and not (out / "llm.safetensors").exists()
    loaded = load_pretrained(out)
    assert any(isinstance(m, bnb.nn.Linear4bit) for m in loaded.model.llm.modules())  # the base in 4-bit again
    _same_model(qlora_ckpt, out)


def test_qlora_merge_reloads_the_base_unquantized(qlora_ckpt, saved_tiny_llama, tmp_path):
    from peft import PeftModel
    from transformers import AutoModelForCausalLM

    out = tmp_path / "qlora_merged"
    export_checkpoint(qlora_ckpt, out, merge=True)
    config = json.loads((out / "llm" / "config.json").read_text())
    assert "quantization_config" not in config  # deployable without bitsandbytes
    merged = AutoModelForCausalLM.from_pretrained(out / "llm")
    adapter = tmp_path / "adapter"
    export_checkpoint(qlora_ckpt, adapter)
    full = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(saved_tiny_llama), adapter / "adapter")
    ids = torch.tensor([[1, 5, 9, 14, 3]])
    with torch.no_grad():
        torch.testing.assert_close(merged(ids).logits, full(ids).logits, rtol=0, atol=1e-4)


def test_checkpoint_whose_base_model_changed_is_refused_with_both_shapes(
    saved_tiny_whisper, saved_tiny_llama, tmp_path
):
    """The LoRA checkpoint keeps only adapters: a different model at llm.path must not load silently."""
    from transformers import LlamaConfig, LlamaForCausalLM

    llama = tmp_path / "llama"
    shutil.copytree(saved_tiny_llama, llama)
    ckpt = save_checkpoint(_pretrained_module(saved_tiny_whisper, llama), tmp_path / "last.ckpt")
    cfg = LlamaConfig.from_pretrained(llama)
    cfg.hidden_size, cfg.intermediate_size = 48, 96
    LlamaForCausalLM(cfg).save_pretrained(llama)  # someone replaced the base model meanwhile
    with pytest.raises(UserError) as e:
        export_checkpoint(ckpt, tmp_path / "out")
    message = str(e.value)
    assert f"Checkpoint {ckpt} does not fit this model" in message and "there but" in message
    assert f"model.llm.path={llama}" in message and len(message.splitlines()) <= 15
    assert not (tmp_path / "out").exists()


def test_the_export_command_is_light_until_it_runs(tmp_path):
    code = (
        "import sys, lalm_framework.cli.export as e; e.build_parser(); "
        "print(sorted(m for m in ('torch', 'hydra', 'pytorch_lightning') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=cli_env(), timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "[]", proc.stderr[-2000:]
    help_text = run_cli("lalm-export", ["--help"], cwd=tmp_path, timeout=60).stdout
    assert "--merge" in help_text and "--overwrite" in help_text and "load_pretrained" in help_text


@pytest.mark.parametrize("damage", ["missing", "empty", "garbage-json", "not-a-tokenizer"])
def test_a_damaged_export_tokenizer_is_named(tiny_export, tmp_path, damage):
    # before: a missing tokenizer/ was read as a hub id (78 lines, "Repo id must be in the form"),
    # garbage tokenizer.json a raw JSONDecodeError
    broken = tmp_path / "broken"
    shutil.copytree(tiny_export, broken)
    tok = broken / "tokenizer"
    if damage == "missing":
        shutil.rmtree(tok)
    elif damage == "empty":
        shutil.rmtree(tok)
        tok.mkdir()
    elif damage == "garbage-json":
        (tok / "tokenizer.json").write_bytes(b"\x00garbage{" * 6)
    else:
        (tok / "tokenizer.json").write_text('{"model": {"type": "NoSuchModel"}}')
    where = "tokenizer.json" if damage == "garbage-json" else "tokenizer"
    with pytest.raises(UserError, match="Export the model again") as info:
        load_pretrained(broken)
    assert str(tok if damage != "garbage-json" else tok / "tokenizer.json") in str(info.value)
    assert where in str(info.value) and len(str(info.value).splitlines()) <= 3
    proc = run_cli("lalm-infer", [str(broken), _files(1)[0]], cwd=tmp_path, timeout=300)
    assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
    assert "Export the model again" in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15


def test_export_into_a_read_only_place_is_one_message(tiny_ckpt, tmp_path):
    # before: an OSError traceback from mkdtemp, after the model had loaded
    with read_only_place(tmp_path) as place:
        ro = str(place)
        proc = run_cli("lalm-export", [str(tiny_ckpt), f"{ro}/out"], cwd=tmp_path, timeout=120)
        assert proc.returncode == 1 and "Traceback" not in proc.stderr, proc.stderr[-3000:]
        assert ro in proc.stderr and "OUT_DIR" in proc.stderr and len(proc.stderr.strip().splitlines()) <= 15
        assert not list(Path(ro).iterdir())
