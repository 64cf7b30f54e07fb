"""`source: shar`: Lhotse Shar shards of one split, as `lalm-prepare-data` writes them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lalm_framework.data.catalog import Catalog, CutEntry, catalog
from lalm_framework.data.cuts import cut_text
from lalm_framework.data.sources.base import CatalogSource, ManifestCuts, SplitCuts
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut


@dataclass
class SharSource(CatalogSource):
    """Lhotse Shar shards of one split (`cuts.NNNNNN.jsonl.gz` + `recording.NNNNNN.tar`)."""

    kind = "shar"
    node_keys = {"path": "directory"}

    directory: Path

    def __post_init__(self) -> None:
        from lalm_framework.utils.paths import resolve_path

        self.directory = resolve_path(self.directory)

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
            raise UserError(
                f"No Shar cut shards (cuts.*.jsonl.gz) in {d}: dataset=shar reads the folders lalm-prepare-data "
                "writes.\nWrite them with `lalm-prepare-data <dataset options> <out_dir>`, set dataset.path=<out_dir>;"
                " to read a LibriSpeech folder directly use dataset=librispeech dataset.root=<folder>."
            )
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

    def files(self) -> list[Path]:
        return [p for s in self.shards() for p in s.values()]

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        shards = self.shards()
        cat = self.catalog()  # every line parses and has one text
        if len(cat) == 0:
            raise UserError(f"The Shar shards in {self.directory} hold no cuts.")
        # audio was checked when the shards were written; decoding errors surface while loading
        return SplitCuts(name, self.describe(), self._meta(), len(cat), shards, catalog=cat)

    def check(self, where: str) -> None:
        self.shards()


def _shar_entry(cut: Cut) -> CutEntry:
    return CutEntry(cut.id, cut.duration, cut_text(cut), str(cut.recording.id), ())


SOURCE = SharSource
