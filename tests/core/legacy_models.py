"""Small classes for the legacy-config tests (importable by `target:` strings)."""

from dataclasses import dataclass
from typing import Any


@dataclass
class Encoder:
    dim: int
    layers: int = 2


@dataclass
class Decoder:
    dim: int
    vocab: int = 10


@dataclass
class Seq2Seq:
    encoder: Any
    decoder: Any
    name: str = "model"
    schedule: Any = None


@dataclass
class Holder:
    """Keeps whatever it is given (to see what a nested node arrives as)."""

    value: Any = None
    items: Any = None
