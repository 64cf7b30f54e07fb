"""Where a split's cuts come from: a LibriSpeech-layout folder, a JSONL manifest, a Lhotse cut
manifest, or Lhotse Shar shards. Each source lists its utterances cheaply (texts, fingerprint)
and loads them as checked cuts (`SplitCuts`) for the samplers.
"""

from __future__ import annotations

import json
import logging
import random
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from lalm_framework.data.catalog import Catalog, CutEntry, catalog
from lalm_framework.data.checks import DurationRange, bad_audio_files, check_audio_files, report_bad_audio
from lalm_framework.data.cuts import cut_files, cut_text, cuts_of, librispeech_cut, make_cut, utterance_cut
from lalm_framework.data.textfile import text_lines
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut

log = logging.getLogger(__name__)

Row = tuple[str, str, str]  # (id, audio, text): what the data fingerprint hashes


@dataclass
class SplitCuts:
    """The checked cuts of one split, in a fixed order, and views of them per epoch.

    In-memory cuts (folder and JSONL sources) are one CutSet. Lazy sources keep a metadata view
    (the cut manifests only: counts, bucket bins, texts) beside the view with audio; for Shar the
    audio view streams the tar shards, and a per-epoch order permutes whole shards.
    """

    name: str
    description: str
    cuts: CutSet  # in memory, or the lazy metadata view
    size: int
    shards: list[dict[str, Path]] = field(default_factory=list)  # Shar: {"cuts": ..., "recording": ...}
    keep: Callable[[Cut], bool] | None = None  # lazy filter applied to every view
    catalog: Catalog | None = None  # lazy sources: per-cut metadata without reading the manifests

    @property
    def meta(self) -> CutSet:
        return self.ordered(None, metadata=True)

    def ordered(self, seed: int | None, metadata: bool) -> CutSet:
        """The cuts in source order (`seed` None) or shuffled by `seed`; `metadata`: no audio."""
        from lhotse import CutSet

        if not self.shards:
            cuts = self.cuts
            if seed is not None and not cuts.is_lazy:
                cuts = cuts.shuffle(random.Random(seed))
        else:
            shards = list(self.shards)
            if seed is not None:
                random.Random(seed).shuffle(shards)
            manifests = [s["cuts"] for s in shards]
            if metadata:
                cuts = CutSet(ManifestCuts(manifests))
            else:
                fields = {"cuts": [str(p) for p in manifests], "recording": [str(s["recording"]) for s in shards]}
                cuts = CutSet.from_shar(fields=fields)
        return cuts.filter(self.keep) if self.keep is not None and cuts.is_lazy else cuts

    def filtered(self, keep: Callable[[Cut], bool], first: int | None = None) -> SplitCuts:
        """The cuts that pass `keep`, at most the `first` n of them (counted once, here)."""
        kept = self._catalog_kept(keep)
        if kept is None:
            kept = [c.id for c in self.meta if keep(c)]
        if len(kept) == self.size and (first is None or first >= self.size):
            return self  # nothing dropped: no filter to apply to every cut of every epoch
        ids = KeepIds(kept[:first] if first is not None else kept, self.keep)
        if not self.cuts.is_lazy:
            return SplitCuts(self.name, self.description, self.cuts.filter(ids), len(ids.ids))
        return SplitCuts(self.name, self.description, self.cuts, len(ids.ids), self.shards, ids, self.catalog)

    def _catalog_kept(self, keep: Callable[[Cut], bool]) -> list[str] | None:
        """The ids `filtered` keeps, from the catalog's durations (None: the cuts must be read)."""
        entries = self._catalog_entries()
        if entries is None or not isinstance(keep, DurationRange):
            return None
        return [i for i, d in entries if keep.keeps(d)]

    def _catalog_entries(self) -> list[tuple[str, float]] | None:
        """(id, duration) of the cuts of this split, from its catalog (None without one)."""
        cat, keep = self.catalog, self.keep
        if cat is None or not (keep is None or (isinstance(keep, KeepIds) and keep.also is None)):
            return None
        ids = keep.ids if isinstance(keep, KeepIds) else None
        return [(i, d) for i, d in zip(cat.ids, cat.durations, strict=True) if ids is None or i in ids]

    def durations(self) -> list[float]:
        """The duration of each cut, in order (from the catalog when there is one)."""
        entries = self._catalog_entries()
        if entries is not None:
            return [d for _, d in entries]
        return [c.duration for c in self.meta]

    def hours(self) -> float:
        """The split's audio, in hours."""
        return sum(self.durations()) / 3600


class KeepIds:
    """Keep the cuts with these ids (and that pass `also`): a lazy filter over every view of a split.

    A class, not a closure: Lhotse warns that lambdas in lazy filters may not survive a fork.
    """

    def __init__(self, ids: Iterable[str], also: Callable[[Cut], bool] | None = None) -> None:
        self.ids = frozenset(ids)
        self.also = also

    def __call__(self, cut: Cut) -> bool:
        return cut.id in self.ids and (self.also is None or self.also(cut))


class ManifestCuts:
    """Cuts of Lhotse JSONL manifests, read lazily; a malformed line raises a UserError naming it."""

    def __init__(self, paths: list[Path]) -> None:
        self.paths = paths

    def __iter__(self) -> Iterator[Cut]:
        from lhotse.cut import Cut
        from lhotse.serialization import deserialize_item

        for path in self.paths:
            for line_no, line in text_lines(path, "cut manifest"):
                if not line.strip():
                    continue
                try:
                    item = deserialize_item(json.loads(line))
                except Exception as e:
                    raise UserError(
                        f"{path}:{line_no}: not a Lhotse cut ({type(e).__name__}: {str(e)[:100]}).\n"
                        "Each line must be one cut as Lhotse writes it (CutSet.to_file / to_shar)."
                    ) from None
                if not isinstance(item, Cut):
                    raise UserError(
                        f"{path}:{line_no}: a {type(item).__name__}, not a cut: this is a recordings or "
                        "supervisions manifest.\nCombine them first: CutSet.from_manifests(recordings=..., "
                        "supervisions=...).trim_to_supervisions().to_file('cuts.jsonl.gz')."
                    )
                yield item

    def __len__(self) -> int:
        return sum(1 for _ in self)


# --- sources ---------------------------------------------------------------------------------
class Source:
    """One split's data as configured: lists cheaply, loads as checked cuts."""

    def describe(self) -> str:
        raise NotImplementedError

    def rows(self) -> list[Row]:
        """(id, audio, text) of every utterance listed (no audio is read)."""
        raise NotImplementedError

    def texts(self) -> list[str]:
        return [text for _, _, text in self.rows()]

    def files(self) -> list[Path]:
        """The files this split reads (manifests, transcripts, audio, shards)."""
        raise NotImplementedError

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        raise NotImplementedError


class UtteranceSource(Source):
    """Sources listed as `Utterance`s (folders, JSONL): checked, then turned into in-memory cuts."""

    def utterances(self) -> list[Utterance]:
        raise NotImplementedError

    def rows(self) -> list[Row]:
        return [(u.id, u.audio, u.text) for u in self.utterances()]

    def files(self) -> list[Path]:
        return [Path(u.audio) for u in self.utterances()]

    def to_cuts(self, utterances: list[Utterance]) -> CutSet:
        return cuts_of(utterances, utterance_cut)

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        utts = self.utterances()
        if check_audio:
            utts = check_audio_files(utts, name, skip_bad_audio=skip_bad_audio, record=self.describe())
        cuts = self.to_cuts(utts)
        return SplitCuts(name, self.describe(), cuts, len(cuts))


@dataclass
class FolderSource(UtteranceSource):
    """A LibriSpeech-layout split folder, read with Lhotse's LibriSpeech recipe."""

    root: Path
    split: str

    def describe(self) -> str:
        return str(self.root / self.split)

    def utterances(self) -> list[Utterance]:
        from lalm_framework.data.librispeech import read_librispeech

        return read_librispeech(self.root, self.split)

    def files(self) -> list[Path]:
        utts = self.utterances()
        return sorted({Path(u.where.rsplit(":", 1)[0]) for u in utts}) + [Path(u.audio) for u in utts]

    def to_cuts(self, utterances: list[Utterance]) -> CutSet:
        # the recipe's own per-line parser (Recording + SupervisionSegment), on lines we have
        # already read and checked: it would skip missing files silently and decode the
        # transcripts in the locale's encoding
        from lhotse.recipes.librispeech import parse_utterance

        def to_cut(u: Utterance) -> Cut:
            checked = librispeech_cut(u)  # the same cut, from this process's audio check
            if checked is not None:
                return checked
            parsed = parse_utterance(Path(u.audio).parents[2], f"{u.id} {u.text}", {})
            if parsed is None or parsed[0].sources[0].source != u.audio:  # id not <spk>-<chapter>-<n>
                return utterance_cut(u)
            return make_cut(*parsed)

        return cuts_of(utterances, to_cut)


@dataclass
class JsonlSource(UtteranceSource):
    """A JSONL manifest of audio paths + texts (`text_key`: the field holding the target)."""

    manifest: Path
    text_key: str = "text"

    def describe(self) -> str:
        return str(self.manifest)

    def utterances(self) -> list[Utterance]:
        from lalm_framework.data.manifest import read_manifest

        return read_manifest(self.manifest, text_key=self.text_key)

    def files(self) -> list[Path]:
        return [self.manifest, *super().files()]


@dataclass
class CutsSource(Source):
    """A Lhotse cut manifest (`cuts.jsonl.gz`, e.g. from one of Lhotse's corpus recipes)."""

    manifest: Path
    text_key: str = "text"

    def describe(self) -> str:
        return str(self.manifest)

    def _cuts(self) -> CutSet:
        from lhotse import CutSet

        if not self.manifest.is_file():
            raise UserError(f"Cut manifest not found: {self.manifest}.\nCheck dataset.<split>_cuts.")
        cuts = CutSet(ManifestCuts([self.manifest]))
        return cuts if self.text_key == "text" else cuts.map(_text_from(self.text_key, self.manifest))

    def catalog(self) -> Catalog:
        """Every cut's id, duration, text and files (one pass that checks each line, then cached)."""
        if not self.manifest.is_file():
            raise UserError(f"Cut manifest not found: {self.manifest}.\nCheck dataset.<split>_cuts.")
        return catalog([self.manifest], f"cuts:{self.text_key}", self._cuts, _file_entry)

    def rows(self) -> list[Row]:
        cat = self.catalog()
        return list(zip(cat.ids, cat.audio, cat.texts, strict=True))

    def texts(self) -> list[str]:
        return list(self.catalog().texts)

    def files(self) -> list[Path]:
        return [self.manifest, *(Path(f) for fs in self.catalog().files for f in fs)]

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        cuts = self._cuts()
        cat = self.catalog()  # every line parses and has one text
        n = len(cat)
        if len(set(cat.ids)) != n:
            seen: set[str] = set()
            for i in cat.ids:
                if i in seen:
                    raise UserError(f"{self.manifest}: cut id {i!r} is used twice; cut ids must be unique.")
                seen.add(i)
        if n == 0:
            raise UserError(f"Cut manifest {self.manifest} holds no cuts.")
        files = [f for fs in cat.files for f in fs]
        split = SplitCuts(name, self.describe(), cuts, n, catalog=cat)
        if check_audio and files:
            bad = bad_audio_files(files, record=self.describe())
            report_bad_audio([f"{p}: {why}" for p, why in bad.items()], len(set(files)), name, skip_bad_audio)
            if bad:
                split = split.filtered(lambda c: not any(f in bad for f in cut_files(c)))
        return split


@dataclass
class SharSource(Source):
    """Lhotse Shar shards of one split (`cuts.NNNNNN.jsonl.gz` + `recording.NNNNNN.tar`)."""

    directory: Path

    def describe(self) -> str:
        return str(self.directory)

    def shards(self) -> list[dict[str, Path]]:
        d = self.directory
        if not d.is_dir():
            raise UserError(
                f"Shar folder not found: {d}.\nWrite it with `lalm-prepare-data <dataset options> <out_dir>` "
                "and set dataset.path=<out_dir>."
            )
        manifests = sorted(d.glob("cuts.*.jsonl*"))
        recordings = sorted(d.glob("recording.*.tar"))
        if not manifests:
            raise UserError(f"No Shar cut shards (cuts.*.jsonl.gz) in {d}.")
        if len(recordings) != len(manifests):
            raise UserError(
                f"{d}: {len(manifests)} cut shards but {len(recordings)} recording shards "
                "(recording.*.tar); the Shar folder is incomplete. Write it again with lalm-prepare-data."
            )
        return [{"cuts": c, "recording": r} for c, r in zip(manifests, recordings, strict=True)]

    def _meta(self) -> CutSet:
        from lhotse import CutSet

        return CutSet(ManifestCuts([s["cuts"] for s in self.shards()]))

    def catalog(self) -> Catalog:
        """Every cut's id, duration, text and recording id (one pass over the shards' manifests, then cached)."""
        return catalog([s["cuts"] for s in self.shards()], "shar", self._meta, _shar_entry)

    def rows(self) -> list[Row]:
        cat = self.catalog()
        return list(zip(cat.ids, cat.audio, cat.texts, strict=True))

    def texts(self) -> list[str]:
        return list(self.catalog().texts)

    def files(self) -> list[Path]:
        return [p for s in self.shards() for p in s.values()]

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        shards = self.shards()
        meta = self._meta()
        cat = self.catalog()
        n = len(cat)
        if n == 0:
            raise UserError(f"The Shar shards in {self.directory} hold no cuts.")
        # audio was checked when the shards were written; decoding errors surface while loading
        return SplitCuts(name, self.describe(), meta, n, shards, catalog=cat)


def _file_entry(cut: Cut) -> CutEntry:
    files = cut_files(cut)
    return CutEntry(cut.id, cut.duration, cut_text(cut), ",".join(files), tuple(files))


def _shar_entry(cut: Cut) -> CutEntry:
    return CutEntry(cut.id, cut.duration, cut_text(cut), str(cut.recording.id), ())


def _text_from(key: str, manifest: Path) -> Callable[[Cut], Cut]:
    """Make the supervision's `custom[key]` its text (for `text_key` on Lhotse manifests)."""

    def move(cut: Cut) -> Cut:
        for s in cut.supervisions:
            value = (s.custom or {}).get(key)
            if not isinstance(value, str):
                raise UserError(
                    f"{manifest}: cut {cut.id!r} has no '{key}' in its supervision's custom fields.\n"
                    "Set dataset.text_key to a field every supervision has (text is the default)."
                )
            s.text = value
        return cut

    return move


def rows_digest(rows: Iterable[Row]) -> str:
    """sha256 of the sorted (id, audio, text) rows: equal for equal utterance lists."""
    import hashlib

    h = hashlib.sha256()
    for row in sorted(rows):
        h.update(json.dumps(row, ensure_ascii=False).encode("utf-8") + b"\n")
    return h.hexdigest()


def describe_sources(sources: dict[str, Source | None]) -> dict[str, Any]:
    """The data fingerprint of each split: source, file count, total bytes, utterance digest."""
    out: dict[str, Any] = {}
    for split, src in sources.items():
        if src is None:
            continue
        files = src.files()
        rows = src.rows()
        sizes = {p: p.stat().st_size for p in set(files) if p.is_file()}  # a file read by many cuts: one stat
        out[split] = {
            "source": src.describe(),
            "kind": type(src).__name__.removesuffix("Source").lower(),
            "utterances": len(rows),
            "files": len(files),
            "bytes": sum(sizes.get(p, 0) for p in files),
            "sha256": rows_digest(rows),
        }
    return out
