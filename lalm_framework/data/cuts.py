"""Utterances as Lhotse cuts (recording + one supervision), and cuts as collator examples.

A cut's id is the utterance id; its supervision holds the target text, and `custom` keeps the
per-example `prompt`/`task` and any other manifest field (SpeechCraft's speaker attributes, ...).
"""

from __future__ import annotations

from collections.abc import Callable, Container, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lalm_framework.data.audio import cut_audio
from lalm_framework.data.audio_record import known_check
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet, Recording, SupervisionSegment
    from lhotse.cut import Cut

# cut custom fields the sampler tags cuts with: the train source's index, a seeded prompt draw
SOURCE_KEY = "lalm_source"
DRAW_KEY = "lalm_draw"
# an evaluation cut's own id: a cut whose id differs is a copy Lhotse made for another DDP rank
OWN_ID_KEY = "lalm_id"
# header reads wait on the disk, not the CPU: threads overlap them on network filesystems
IO_THREADS = 8


def make_cut(recording: Recording, supervision: SupervisionSegment) -> Cut:
    """A cut spanning `recording` with `supervision`; its id is the recording's (= utterance) id."""
    cut = recording.to_cut()
    supervision.channel = cut.channel
    cut.supervisions = [supervision]
    return cut


def utterance_cut(u: Utterance) -> Cut:
    """The cut of one utterance (reads the audio file's header unless this process checked it)."""
    from lhotse import Recording, SupervisionSegment

    checked = known_check(u.audio)
    try:
        if checked is not None:
            rec = checked.recording(u.audio, u.id)
        else:
            rec = Recording.from_file(u.audio, recording_id=u.id)
    except Exception as e:
        raise UserError(
            f"{u.audio}: cannot read the audio header ({type(e).__name__}: {str(e).splitlines()[0][:120]}).\n"
            "Fix or remove the file (dataset.check_audio=true finds all such files at once)."
        ) from None
    custom = {k: v for k, v in (("prompt", u.prompt), ("task", u.task)) if v is not None} | u.extra
    sup = SupervisionSegment(
        id=u.id, recording_id=u.id, start=0.0, duration=rec.duration, text=u.text, custom=custom or None
    )
    return make_cut(rec, sup)


def librispeech_cut(u: Utterance) -> Cut | None:
    """The cut Lhotse's LibriSpeech recipe (`parse_utterance`) makes of `u`, built from this
    process's check of its file instead of a second header read (None: not checked)."""
    from lhotse import SupervisionSegment

    checked = known_check(u.audio)
    path = Path(u.audio)
    if checked is None or len(path.parents) < 3:
        return None
    expected = path.parents[2] / Path(u.id.replace("-", "/")).parent / f"{u.id}.flac"
    if str(expected) != u.audio:  # not <spk>-<chapter>-<n> in its folder: not the recipe's cut
        return None
    rec = checked.recording(u.audio, u.id)
    speaker = u.id.split("-", 1)[0]
    sup = SupervisionSegment(
        id=u.id,
        recording_id=u.id,
        start=0.0,
        duration=rec.duration,
        channel=0,
        language="English",
        speaker=speaker,
        text=u.text.strip(),
    )
    return make_cut(rec, sup)


def cuts_of(items: Iterable[Any], to_cut: Callable[[Any], Cut]) -> CutSet:
    """An in-memory CutSet of `to_cut(item)` for each item, in order, built in one pass.

    Header reads, where a file was not checked in this process, run in threads; checked
    files need none, and a thread hand-off would cost more than building the cut.
    """
    from lhotse import CutSet

    items = list(items)
    if all(known_check(_audio_of(i)) is not None for i in items):
        return CutSet.from_cuts(map(to_cut, items))
    with ThreadPoolExecutor(max_workers=IO_THREADS) as pool:
        return CutSet.from_cuts(pool.map(to_cut, items))


def _audio_of(item: Any) -> str:
    return str(getattr(item, "audio", ""))


def cut_text(cut: Cut) -> str:
    """The target text of a cut: the text of its one supervision."""
    sups = cut.supervisions
    if len(sups) != 1:
        raise UserError(
            f"Cut {cut.id!r} has {len(sups)} supervisions; each training example needs exactly one.\n"
            "Split long recordings first, e.g. cuts.trim_to_supervisions() in Lhotse."
        )
    text = sups[0].text
    if not isinstance(text, str):
        raise UserError(f"Cut {cut.id!r}: its supervision has no text; each training example needs one.")
    return text


def cut_custom(cut: Cut) -> dict[str, Any]:
    """The supervision's custom fields (prompt, task, manifest extras)."""
    return dict(cut.supervisions[0].custom or {}) if cut.supervisions else {}


def cut_example(cut: Cut, sample_rate: int, cached: Container[str] = ()) -> dict[str, Any]:
    """The collator's input for `cut`: decoded audio, text, per-example prompt/task and a cache key.

    The audio is not decoded when its key is in `cached` (the collator has its features).
    """
    custom = cut_custom(cut)
    tags = cut.custom or {}  # the cut's own fields: the sampler's tags (train source, prompt draw)
    key = audio_key(cut)
    return {
        "id": cut.id,
        "key": key,
        "audio": None if key in cached else cut_audio(cut, sample_rate),
        "text": cut_text(cut),
        "prompt": custom.get("prompt"),
        "task": custom.get("task"),
        "draw": tags.get(DRAW_KEY),
        "source": int(tags.get(SOURCE_KEY, 0)),
        "duplicate": tags.get(OWN_ID_KEY, cut.id) != cut.id,
    }


def audio_key(cut: Cut) -> str:
    """What identifies a cut's audio (its sources and span): equal keys give equal features."""
    rec = cut.recording
    sources = ",".join(str(s.source) if s.type == "file" else f"{s.type}:{rec.id}" for s in rec.sources)
    return f"{sources}@{cut.start:.4f}+{cut.duration:.4f}#{cut.channel}"


def cut_files(cut: Cut) -> list[str]:
    """The audio files a cut reads (none for in-memory, URL or Shar audio)."""
    return [str(s.source) for s in cut.recording.sources if s.type == "file"] if cut.has_recording else []
