"""What every source kind shares: `Source` (a configured source node), `SplitCuts` (its checked
cuts and per-epoch views), and the data fingerprint of a source.
"""

from __future__ import annotations

import json
import logging
import random
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING, Any, ClassVar

from lalm_framework.data.catalog import Catalog, Row, rows_digest
from lalm_framework.data.checks import DurationRange, check_audio_files
from lalm_framework.data.cuts import cuts_of, utterance_cut
from lalm_framework.data.textfile import text_lines
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut

log = logging.getLogger(__name__)


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

    @property
    def premixed(self) -> bool:
        return False  # the sampler shuffles it (see `sampling.EpochCuts`)

    @property
    def epoch_steps(self) -> int | None:
        return None  # an epoch is the whole split

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
                cuts = CutSet(SharShards(shards))
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

    def first_durations(self, n: int) -> list[float]:
        """The durations of the first `n` cuts in source order (what bucket boundaries are placed by)."""
        entries = self._catalog_entries()
        if entries is not None:
            return [d for _, d in entries[:n]]
        return [c.duration for c in islice(self.meta, n)]

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


class SharShards:
    """Cuts with audio of Shar shards, read shard by shard; a damaged shard raises a UserError naming it."""

    def __init__(self, shards: list[dict[str, Path]]) -> None:
        self.shards = shards

    def __iter__(self) -> Iterator[Cut]:
        import tarfile

        from lhotse import CutSet

        for shard in self.shards:
            fields = {"cuts": [str(shard["cuts"])], "recording": [str(shard["recording"])]}
            try:
                yield from CutSet.from_shar(fields=fields)
            except (tarfile.TarError, EOFError, OSError) as e:
                raise UserError(
                    f"Shar shard {shard['recording']} is damaged or incomplete ({type(e).__name__}: {e}).\n"
                    "Write the shards again: re-run lalm-prepare-data into a new folder, then set dataset.path to it."
                ) from None

    def __len__(self) -> int:
        return sum(1 for _ in ManifestCuts([s["cuts"] for s in self.shards]))


# --- sources ---------------------------------------------------------------------------------
@dataclass
class Source:
    """One source of utterances as configured (an item of `dataset.train`, a set of `val`/`test`):
    it lists its utterances cheaply and loads them as checked cuts.

    Each kind is one module of this package whose `SOURCE` is its subclass; `kind` is the name
    users write as `source:` and what run.json records (not derived from the class name). A user's
    own kind is a subclass named by its class path (`source: my_pkg.MySource`).
    """

    kind: ClassVar[str] = ""
    default_task: ClassVar[str] = "transcribe"
    # node key -> dataclass field where the user's name differs (`path:` for a manifest)
    node_keys: ClassVar[dict[str, str]] = {}

    task: str | None = field(default=None, kw_only=True)  # None: the kind's default task
    weight: float | None = field(default=None, kw_only=True)  # mixing weight (train sources)
    # what messages call this source (the flat keys' own name, e.g. dataset.root); not a node key
    where: str = field(default="", kw_only=True, compare=False, repr=False)

    @property
    def task_name(self) -> str:
        return self.task or self.default_task

    def describe(self) -> str:
        raise NotImplementedError

    def rows(self) -> list[Row]:
        """(id, audio, text) of every utterance listed (no audio is read)."""
        raise NotImplementedError

    def texts(self) -> list[str]:
        return [text for _, _, text in self.rows()]

    def digest(self) -> tuple[int, str]:
        """The number of utterances listed and the `rows_digest` of their rows."""
        rows = self.rows()
        return len(rows), rows_digest(rows)

    def files(self) -> list[Path]:
        """The files this source reads (manifests, transcripts, audio, shards)."""
        raise NotImplementedError

    def file_names(self) -> list[str]:
        """`files()` as strings (what the data fingerprint counts); large sources list them
        without a `Path` per cut."""
        return [str(p) for p in self.files()]

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        raise NotImplementedError

    def check(self, where: str) -> None:
        """The cheap checks before launch (files and folders exist, not their contents)."""

    def infer_input(self) -> str | None:
        """What `lalm-infer` can read back for this source (a folder or manifest), or None."""
        return None


@dataclass
class ManifestFile(Source):
    """The fields of sources read from one manifest file (`path:` in a node): JSONL, Lhotse cuts."""

    node_keys = {"path": "manifest"}

    manifest: Path
    text_key: str = "text"  # the field holding the target text

    def __post_init__(self) -> None:
        from lalm_framework.utils.paths import resolve_path

        self.manifest = resolve_path(self.manifest)

    def describe(self) -> str:
        return str(self.manifest)


class CatalogSource(Source):
    """Sources listed from their manifests' `Catalog` (Lhotse cuts, Shar): rows without reading audio."""

    def catalog(self) -> Catalog:
        """Every cut's id, duration, text and files (one pass over the manifests, then cached)."""
        raise NotImplementedError

    def rows(self) -> list[Row]:
        return self.catalog().rows()

    def digest(self) -> tuple[int, str]:
        cat = self.catalog()  # the digest is kept with the catalog: no row is hashed again
        return len(cat), cat.digest

    def texts(self) -> list[str]:
        return list(self.catalog().texts)


class UtteranceSource(Source):
    """Sources listed as `Utterance`s (folders, JSONL): checked, then turned into in-memory cuts."""

    def utterances(self) -> list[Utterance]:
        raise NotImplementedError

    def rows(self) -> list[Row]:
        return [(u.id, u.audio, u.text) for u in self.utterances()]

    def files(self) -> list[Path]:
        return [Path(u.audio) for u in self.utterances()]

    def file_names(self) -> list[str]:
        return [u.audio for u in self.utterances()]

    def to_cuts(self, utterances: list[Utterance]) -> CutSet:
        return cuts_of(utterances, utterance_cut)

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        utts = self.utterances()
        if check_audio:
            utts = check_audio_files(utts, name, skip_bad_audio=skip_bad_audio, record=self.describe())
        cuts = self.to_cuts(utts)
        return SplitCuts(name, self.describe(), cuts, len(cuts))


def source_fingerprint(src: Source) -> dict[str, Any]:
    """One source's data fingerprint: kind, where, task, file count, total bytes, utterance digest."""
    files = Counter(src.file_names())  # a file read by many cuts: one stat
    count, digest = src.digest()
    sizes = {f: p.stat().st_size if (p := Path(f)).is_file() else 0 for f in files}
    return {
        "source": src.describe(),
        "kind": src.kind,
        "task": src.task_name,
        "utterances": count,
        "files": files.total(),
        "bytes": sum(sizes[f] * n for f, n in files.items()),
        "sha256": digest,
    }
