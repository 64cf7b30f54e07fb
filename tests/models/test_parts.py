"""Projector, audio splicing, regex freezing, tokenizer and checkpoint round trips of the LALM."""

from __future__ import annotations

import pytest
import torch
from tiny_lalm import speech_batch, tiny_kwargs

from lalm_framework.data.batch import AUDIO_TOKEN, IGNORE_INDEX
from lalm_framework.errors import UserError
from lalm_framework.models.lalm import set_trainable_by_regex
from lalm_framework.models.projector import Projector
from lalm_framework.models.schema import ProjectorConfig, SpecAugmentConfig


@pytest.mark.parametrize("kind", ["mlp", "conv"])
def test_projector_downsamples_to_llm_width(kind):
    proj = Projector(in_dim=8, out_dim=12, cfg=ProjectorConfig(kind=kind, stack=4))
    out = proj(torch.randn(2, 10, 8))
    assert out.shape == (2, 3, 12)  # 10 frames / 4 -> 3 (last group zero-padded)
    assert proj.output_lengths(torch.tensor([10, 8, 1])).tolist() == [3, 2, 1]


def test_splice_puts_audio_at_the_placeholder_and_masks_it_from_the_loss(tiny_module):
    lalm = tiny_module.model
    a = lalm.audio_token_id
    # row 0: [x, AUDIO, y, z]; row 1 right-padded: [AUDIO, y, pad, pad]
    ids = torch.tensor([[5, a, 6, 7], [a, 6, 0, 0]])
    mask = torch.tensor([[1, 1, 1, 1], [1, 1, 0, 0]])
    labels = torch.tensor([[IGNORE_INDEX, IGNORE_INDEX, 6, 7], [IGNORE_INDEX, 6, IGNORE_INDEX, IGNORE_INDEX]])
    audio = torch.randn(2, 5, 32)
    emb, m, lab = lalm.splice(ids, mask, audio, torch.tensor([2, 5]), labels)
    text = lalm.llm.get_input_embeddings()(torch.tensor([5, 6, 7]))
    assert emb.shape == (2, 6, 32)
    assert m.tolist() == [[1, 1, 1, 1, 1, 0], [1, 1, 1, 1, 1, 1]]
    torch.testing.assert_close(emb[0, 0], text[0])
    torch.testing.assert_close(emb[0, 1:3], audio[0, :2])  # only the 2 valid audio frames
    torch.testing.assert_close(emb[0, 3:5], text[1:3])
    torch.testing.assert_close(emb[1, :5], audio[1])
    assert lab[0].tolist() == [IGNORE_INDEX] * 3 + [6, 7, IGNORE_INDEX]
    assert lab[1].tolist() == [IGNORE_INDEX] * 5 + [6]
    # left padding for generation: real tokens end at the right edge
    emb_l, m_l, _ = lalm.splice(ids, mask, audio, torch.tensor([2, 5]), pad_left=True)
    assert m_l[0].tolist() == [0, 1, 1, 1, 1, 1]
    torch.testing.assert_close(emb_l[0, 1:], emb[0, :5])


def test_splice_rejects_a_prompt_without_the_placeholder(tiny_module):
    ids = torch.tensor([[5, 6, 7]])
    with pytest.raises(ValueError, match="exactly once"):
        tiny_module.model.splice(ids, torch.ones_like(ids), torch.randn(1, 2, 32), torch.tensor([2]))


def test_regex_freeze_then_unfreeze(tiny_module):
    model = tiny_module.model
    trainable = set_trainable_by_regex(model, freeze=[r"^encoder\.", r"^llm\."], unfreeze=[r"lm_head"])
    assert trainable and all(n.startswith(("projector.", "llm.lm_head")) for n in trainable)
    assert any(n.startswith("llm.lm_head") for n in trainable)
    with pytest.raises(UserError, match="matches no parameter"):
        set_trainable_by_regex(model, freeze=[r"^no_such_module\."])
    set_trainable_by_regex(model, unfreeze=[r"."])  # leave the shared fixture trainable


def test_tiny_tokenizer_word_tokens_and_audio_placeholder(tiny_module):
    tok = tiny_module.tokenizer
    assert tok.tokenize("three one four turn on the light") == [
        "▁three",
        "▁one",
        "▁four",
        "▁turn",
        "▁on",
        "▁the",
        "▁light",
    ]
    assert len(tok(f"{AUDIO_TOKEN} transcribe:", add_special_tokens=False).input_ids) >= 2
    assert tok.convert_tokens_to_ids(AUDIO_TOKEN) != tok.unk_token_id
    assert tok.pad_token_id is not None and tok.eos_token_id is not None
    assert tok.decode(tok("go up").input_ids) == "go up"
    # features sized for the encoder: 2 x max_source_positions frames
    assert tiny_module.feature_extractor.nb_max_frames == 400


def test_checkpoint_round_trip_restores_tokenizer_and_weights(tiny_module, tmp_path):
    import pytorch_lightning as pl

    from lalm_framework.models.lalm_module import LalmModule

    trainer = pl.Trainer(
        logger=False, enable_checkpointing=False, enable_progress_bar=False, enable_model_summary=False, max_epochs=0
    )
    trainer.strategy.connect(tiny_module)
    ckpt = tmp_path / "m.ckpt"
    trainer.save_checkpoint(ckpt)
    # A different corpus would train a different tokenizer: the checkpoint's own must win.
    corpus = tmp_path / "other.txt"
    corpus.write_text("completely different words here\n")
    loaded = LalmModule.load_from_checkpoint(
        ckpt, tokenizer={"corpus": [str(corpus)], "vocab_size": 200}, weights_only=True
    )
    assert loaded.tokenizer.get_vocab() == tiny_module.tokenizer.get_vocab()
    for (n, a), (_, b) in zip(tiny_module.state_dict().items(), loaded.state_dict().items(), strict=True):
        torch.testing.assert_close(a, b, msg=n)


def test_forward_on_real_speech_gives_finite_loss_on_target_tokens(tiny_module):
    batch = speech_batch(tiny_module, n=3)
    out = tiny_module(batch)
    assert torch.isfinite(out.loss)
    # audio embeddings were spliced in: the LLM saw more positions than the text tokens
    assert out.logits.shape[1] > batch["input_ids"].shape[1]
    hyps = tiny_module.transcribe_batch(batch)
    assert len(hyps) == 3 and all(isinstance(h, str) for h in hyps)


def test_missing_pretrained_path_is_a_user_error(tmp_path):
    from lalm_framework.models.lalm_module import LalmModule

    with pytest.raises(UserError, match=r"model\.llm\.path=.*does not exist"):
        LalmModule(**tiny_kwargs(llm={"path": str(tmp_path / "nope")}, tokenizer={"corpus": []}))


def test_spec_augment_masks_only_inside_the_valid_frames():
    from lalm_framework.models.spec_augment import spec_augment

    feats = torch.randn(2, 80, 100)
    feats[1, :, 40:] = -1.5  # padding of a 40-frame row
    g = torch.Generator().manual_seed(0)
    masks = SpecAugmentConfig(freq_masks=2, freq_width=10, time_masks=2, time_width=0.2)
    out = spec_augment(feats, torch.tensor([100, 40]), masks, generator=g)
    assert out.shape == feats.shape and not torch.equal(out, feats)
    torch.testing.assert_close(out[1, :, 40:], feats[1, :, 40:])  # padding untouched
    changed_frames = (out != feats).any(dim=1)
    assert changed_frames[0].any() and changed_frames[1, :40].any()
    no_masks = SpecAugmentConfig(freq_masks=0, freq_width=10, time_masks=0, time_width=0.2)
    assert torch.equal(spec_augment(feats, torch.tensor([100, 40]), no_masks), feats)


def test_building_blocks_take_keyword_arguments_from_legacy_and_target_configs():
    # seed 000's model file builds the encoder with `target: ...build_audio_encoder` and keyword
    # params; before: TypeError("build_audio_encoder() got an unexpected keyword argument 'path'")
    from omegaconf import OmegaConf
    from tiny_lalm import TINY_ENCODER, TINY_LLAMA

    from lalm_framework import instantiate
    from lalm_framework.models.build import build_lalm
    from lalm_framework.models.lalm import LALM

    legacy = OmegaConf.create(
        {
            "encoder": {
                "target": "lalm_framework.models.audio_encoder.build_audio_encoder",
                "params": {"path": None, "config": dict(TINY_ENCODER), "freeze": True},
            },
            "projector": {
                "target": "lalm_framework.models.projector.Projector",
                "params": {"in_dim": 32, "out_dim": 32, "kind": "conv", "stack": 2},
            },
            "llm": {
                "_target_": "lalm_framework.models.llm.build_llm",
                "tokenizer": {"_target_": "lalm_framework.models.tokenizer.build_tokenizer", "vocab_size": 128},
                "config": dict(TINY_LLAMA),
                "freeze": True,
            },
        }
    )
    encoder = instantiate(legacy.encoder)
    assert encoder.config.d_model == 32 and not any(p.requires_grad for p in encoder.parameters())
    projector = instantiate(legacy.projector)
    assert projector.kind == "conv" and projector.stack == 2
    llm = instantiate(legacy.llm)
    assert llm.config.hidden_size == 32 and not any(p.requires_grad for p in llm.parameters())
    from lalm_framework.models.audio_encoder import build_audio_encoder
    from lalm_framework.models.llm import add_lora

    assert build_audio_encoder(config=dict(TINY_ENCODER), dtype=torch.bfloat16).dtype == torch.bfloat16
    lora = add_lora(instantiate(legacy.llm), r=2, alpha=4, dropout=0.0)
    assert any("lora_A" in n for n, _ in lora.named_parameters())
    model, extractor = instantiate(
        {
            "_target_": "lalm_framework.models.build.build_lalm",
            "encoder": {"config": dict(TINY_ENCODER)},
            "projector": {"stack": 4},
            "llm": {"config": dict(TINY_LLAMA)},
            "tokenizer": {"vocab_size": 128},
        }
    )
    assert isinstance(model, LALM) and extractor.feature_size == TINY_ENCODER["num_mel_bins"]
    with pytest.raises(UserError, match="not both"):
        build_lalm({"projector": {"stack": 4}}, projector={"stack": 2})
    with pytest.raises(UserError, match=r"projector\.stack"):
        Projector(8, 8, stack="many")
