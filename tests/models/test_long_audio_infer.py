"""`lalm-infer --long-audio chunk`: audio longer than the model's window is decoded window by
window (Lhotse's `cut_into_windows`) and the hypotheses joined; `cut` (default) decodes the first."""

from __future__ import annotations

import numpy as np
import pytest
import soundfile as sf
from tiny_lalm import sample_files

from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError
from lalm_framework.inference.transcribe import transcribe


def test_chunk_decodes_every_window_in_order_and_joins_them(tiny_module, tmp_path):
    window = float(tiny_module.feature_extractor.chunk_length)  # 4 s for the tiny encoder
    audio = np.concatenate([sf.read(f, dtype="float32")[0] for f in sample_files("dev", 14)])
    sr = tiny_module.feature_extractor.sampling_rate
    n = int(np.ceil(len(audio) / (window * sr)))
    assert len(audio) > 2 * window * sr and n >= 3  # at least 3 windows, the last one shorter
    sf.write(tmp_path / "long.flac", audio, sr)
    short = sample_files("dev", 1)[0]
    utts = [Utterance(id="long", audio=str(tmp_path / "long.flac"), text=""), Utterance("s", str(short), "")]
    # each window alone, as its own file: what chunking must decode (batches of one: no padding)
    alone = []
    for j in range(n):
        part = tmp_path / f"w{j}.flac"
        sf.write(part, audio[int(j * window * sr) : int((j + 1) * window * sr)], sr)
        alone.append(transcribe(tiny_module, [Utterance(f"w{j}", str(part), "")], batch_size=1, progress=False))
    pieces = [rows[0]["hypothesis"].strip() for rows in alone]
    assert len(set(pieces)) > 1  # the random model says different things per window: order matters

    chunked = transcribe(tiny_module, utts, batch_size=1, progress=False, long_audio="chunk")
    assert chunked[0]["hypothesis"] == " ".join(p for p in pieces if p)
    assert chunked[0]["windows"] == n and "windows" not in chunked[1]
    single = transcribe(tiny_module, [utts[1]], batch_size=1, progress=False)
    assert chunked[1]["hypothesis"] == single[0]["hypothesis"]  # short audio as before

    cut = transcribe(tiny_module, utts, batch_size=1, progress=False)  # default: the first window only
    assert cut[0]["hypothesis"] == alone[0][0]["hypothesis"] and "windows" not in cut[0]
    with pytest.raises(UserError, match="--long-audio drop: use one of cut, chunk"):
        transcribe(tiny_module, utts, progress=False, long_audio="drop")
