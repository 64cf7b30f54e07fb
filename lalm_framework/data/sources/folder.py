"""`source: folder`: a LibriSpeech-layout split folder, read with Lhotse's LibriSpeech recipe."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lalm_framework.data.cuts import cuts_of, librispeech_cut, make_cut, utterance_cut
from lalm_framework.data.sources.base import UtteranceSource
from lalm_framework.data.utterance import Utterance
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut


@dataclass
class FolderSource(UtteranceSource):
    """`<root>/<split>/<spk>/<chapter>/*.flac + *.trans.txt`; `root` null: the bundled speech set.

    >>> FolderSource(Path("/data/LibriSpeech"), "dev-clean")  # doctest: +SKIP
    """

    kind = "folder"

    root: Path | None
    split: str

    def __post_init__(self) -> None:
        from lalm_framework.samples import SAMPLE_ROOT
        from lalm_framework.utils.paths import resolve_path

        self.root = SAMPLE_ROOT if self.root is None else resolve_path(self.root)

    @property
    def folder(self) -> Path:
        assert self.root is not None  # set in __post_init__
        return self.root

    def describe(self) -> str:
        return str(self.folder / self.split)

    def utterances(self) -> list[Utterance]:
        from lalm_framework.data.librispeech import read_librispeech

        return read_librispeech(self.folder, self.split)

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

    def check(self, where: str) -> None:
        from lalm_framework.data.librispeech import check_split_dir

        if not self.folder.is_dir():
            raise UserError(
                f"{where}: folder not found: {self.folder}.\nSet its root to the folder holding the LibriSpeech splits."
            )
        check_split_dir(self.folder, self.split)

    def infer_input(self) -> str | None:
        return self.describe()


SOURCE = FolderSource
