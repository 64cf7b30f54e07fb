"""`source: jsonl`: a JSONL manifest of audio paths + texts (fields: docs/data.md)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from lalm_framework.data.sources.base import ManifestFile, UtteranceSource
from lalm_framework.data.utterance import Utterance


@dataclass
class JsonlSource(UtteranceSource, ManifestFile):
    """`{source: jsonl, path: captions.jsonl, text_key: text}`; rows may carry their own prompt/task.

    >>> JsonlSource(Path("train.jsonl"), task="caption")  # doctest: +SKIP
    """

    kind = "jsonl"

    def utterances(self) -> list[Utterance]:
        from lalm_framework.data.manifest import read_manifest

        return read_manifest(self.manifest, text_key=self.text_key)

    def digest(self) -> tuple[int, str]:
        from lalm_framework.data.manifest import parsed

        found = parsed(self.manifest, self.text_key, True, True)  # kept with the rows: none is hashed again
        return len(found.utterances), found.digest

    def files(self) -> list[Path]:
        return [self.manifest, *super().files()]

    def file_names(self) -> list[str]:
        return [str(self.manifest), *super().file_names()]

    def check(self, where: str) -> None:
        from lalm_framework.data.manifest import check_manifest_file

        check_manifest_file(self.manifest)

    def infer_input(self) -> str | None:
        return str(self.manifest)


SOURCE = JsonlSource
