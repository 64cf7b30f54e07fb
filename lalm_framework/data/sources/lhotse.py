"""`source: lhotse`: a Lhotse cut manifest, one supervision per cut (its text is the target)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from lalm_framework.data.catalog import Catalog, CutEntry, catalog
from lalm_framework.data.checks import bad_audio_files, report_bad_audio
from lalm_framework.data.cuts import cut_files, cut_text
from lalm_framework.data.sources.base import CatalogSource, ManifestCuts, ManifestFile, SplitCuts
from lalm_framework.errors import UserError

if TYPE_CHECKING:
    from lhotse import CutSet
    from lhotse.cut import Cut


@dataclass
class CutsSource(ManifestFile, CatalogSource):
    """A Lhotse cut manifest (`cuts.jsonl.gz`, e.g. from one of Lhotse's corpus recipes).

    >>> CutsSource(Path("cuts_train.jsonl.gz"), text_key="caption")  # doctest: +SKIP
    """

    kind = "lhotse"

    def _cuts(self) -> CutSet:
        from lhotse import CutSet

        if not self.manifest.is_file():
            raise UserError(f"Cut manifest not found: {self.manifest}.\nCheck the source's path.")
        cuts = CutSet(ManifestCuts([self.manifest]))
        return cuts if self.text_key == "text" else cuts.map(_text_from(self.text_key, self.manifest))

    def catalog(self) -> Catalog:
        """Every cut's id, duration, text and files (one pass that checks each line, then cached)."""
        if not self.manifest.is_file():
            raise UserError(f"Cut manifest not found: {self.manifest}.\nCheck the source's path.")
        return catalog([self.manifest], f"cuts:{self.text_key}", self._cuts, _file_entry)

    def files(self) -> list[Path]:
        # one Path per distinct file (its hash is cached): cuts of a large corpus share few files
        paths: dict[str, Path] = {}
        out = [self.manifest]
        for fs in self.catalog().files:
            out.extend(paths.get(f) or paths.setdefault(f, Path(f)) for f in fs)
        return out

    def file_names(self) -> list[str]:
        return [str(self.manifest), *(f for fs in self.catalog().files for f in fs)]

    def load(self, name: str, skip_bad_audio: bool, check_audio: bool) -> SplitCuts:
        cats = self.catalog()  # every line parses and has one text
        n = len(cats)
        if len(set(cats.ids)) != n:
            seen: set[str] = set()
            for i in cats.ids:
                if i in seen:
                    raise UserError(f"{self.manifest}: cut id {i!r} is used twice; cut ids must be unique.")
                seen.add(i)
        if n == 0:
            raise UserError(f"Cut manifest {self.manifest} holds no cuts.")
        files = [f for fs in cats.files for f in fs]
        split = SplitCuts(name, self.describe(), self._cuts(), n, catalog=cats)
        if check_audio and files:
            bad = bad_audio_files(files, record=self.describe())
            report_bad_audio([f"{p}: {why}" for p, why in bad.items()], len(set(files)), name, skip_bad_audio)
            if bad:
                split = split.filtered(lambda c: not any(f in bad for f in cut_files(c)))
        return split

    def check(self, where: str) -> None:
        if not self.manifest.is_file():
            raise UserError(f"{where}: cut manifest not found: {self.manifest}.")


def _file_entry(cut: Cut) -> CutEntry:
    files = cut_files(cut)
    return CutEntry(cut.id, cut.duration, cut_text(cut), ",".join(files), tuple(files))


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


SOURCE = CutsSource
