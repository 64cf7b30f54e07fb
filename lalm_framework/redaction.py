"""What counts as a secret, and how it is masked wherever a job writes or prints text.

A value is a secret when any of these holds (docs/faults.md, "Secrets"):

1. it is the value of an environment variable named like a credential: a word of the name
   (split at `_`) is KEY, TOKEN, SECRET, PASSWORD, PASSWD, PASSPHRASE, CREDENTIAL(S), AUTH or
   ends in KEY/TOKEN/SECRET/PASSWORD (APIKEY, HFTOKEN, PGPASSWORD). `WANDB_API_KEY`, `HF_TOKEN`,
   `AWS_SECRET_ACCESS_KEY` are secrets; `LALM_TOKENIZER_PATH` is not;
2. it is the string value of a config key or override named like a credential (`api_key`,
   `hf_token`, `password`, `client_secret`, `access_key`, ...). Names that only look alike stay
   visible: `text_key`, `pad_token`, `max_new_tokens`, `num_key_value_heads`;
3. it has the shape of a well-known token, wherever it appears: Hugging Face `hf_...`, OpenAI and
   Anthropic `sk-...`, GitHub `ghp_...`/`github_pat_...`, Slack `xox?-...`, AWS key ids
   `AKIA...`, W&B server keys `local-<40 hex>`, JSON web tokens, and the password in
   `scheme://user:password@host`.

Classic W&B keys are 40 hex digits, the same shape as a git commit (which the run record keeps),
so they are recognised by name (rule 1 or 2), not by shape. Values shorter than `MIN_LITERAL`
characters are masked where their key names them, never as free text (too many false hits).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

MASK = "***"
MIN_LITERAL = 6

_ENV_WORDS = {"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "PASSPHRASE", "CREDENTIAL", "CREDENTIALS", "AUTH"}
_ANY_WORDS = {"secret", "secrets", "password", "passwd", "passphrase", "credential", "credentials", "apikey"}
# `<x>_token` is a credential unless <x> names a special token of a tokenizer
_TOKEN_NOT_SECRET = {"pad", "bos", "eos", "unk", "sep", "cls", "mask", "start", "end", "audio", "special", "image"}
# `<x>_key` is a field name (`text_key`) unless <x> says it is a credential
_KEY_SECRET = {"api", "access", "secret", "private", "auth", "license", "encryption", "signing", "account", "service"}

_TOKEN_SHAPES = re.compile(
    r"(?<![A-Za-z0-9])(?:"
    r"hf_[A-Za-z0-9]{30,}"
    r"|sk-[A-Za-z0-9_\-]{20,}"
    r"|gh[pousr]_[A-Za-z0-9]{30,}"
    r"|github_pat_[A-Za-z0-9_]{30,}"
    r"|xox[abprs]-[A-Za-z0-9\-]{10,}"
    r"|(?:AKIA|ASIA)[0-9A-Z]{16}"
    r"|local-[0-9a-f]{40}"
    r"|eyJ[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}\.[A-Za-z0-9_\-]{8,}"
    r")"
)
_URL_PASSWORD = re.compile(r"(?<=://)([^/\s:@]+):([^/\s@]+)(?=@)")
# `key=value` as in an override or Hydra's override_dirname (`a=1,+api_key=x`)
_ASSIGNMENT = re.compile(r"(?<![\w.])([+~]{0,2}[A-Za-z_][\w.\-]*)=([^,\s'\"\]\[]+)")
# a YAML plain scalar that now starts with *** would read as an alias: such values get quoted
_YAML_STARTS_MASKED = re.compile(r"(?m)^([ \t]*(?:-[ \t]+)*(?:[A-Za-z_][\w.\-]*:[ \t]+)?)(\*\*\*[^\n]*?)[ \t]*$")
# `key: value` on one line, as in YAML (Hydra's saved configs) and printed configs
_YAML_ENTRY = re.compile(r"(?m)^([ \t-]*)([A-Za-z_][\w\-]*):[ \t]+([^\s#|>][^\n]*)$")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def is_secret_env_name(name: str) -> bool:
    """Whether an environment variable's name says it holds a credential (rule 1)."""
    words = [w for w in re.split(r"[^A-Za-z0-9]+", name.upper()) if w]
    return any(w in _ENV_WORDS or w.endswith(("KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD")) for w in words)


def is_secret_key(name: str) -> bool:
    """Whether a config key or override key (its last dotted part) names a credential (rule 2).

    >>> [is_secret_key(k) for k in ["logger.api_key", "hf_token", "text_key", "pad_token", "max_new_tokens"]]
    [True, True, False, False, False]
    """
    words = _words(str(name).rsplit(".", 1)[-1])
    if not words:
        return False
    if _ANY_WORDS & set(words):
        return True
    last, before = words[-1], (words[-2] if len(words) > 1 else "")
    if last == "token":
        return before not in _TOKEN_NOT_SECRET
    if last == "key":
        return before in _KEY_SECRET
    return last in ("auth", "apikey")


def env_secrets(environ: Mapping[str, str] | None = None) -> list[str]:
    """Values of credential-named environment variables (rule 1), long enough to mask as text."""
    env = os.environ if environ is None else environ
    return [v for k, v in env.items() if is_secret_env_name(k) and len(v) >= MIN_LITERAL]


def secrets_in(obj: Any) -> list[str]:
    """Secret values named by keys inside `obj` (nested dicts/lists), `key=value` strings and URL passwords in it."""
    found: list[str] = []

    def visit(node: Any) -> None:
        if isinstance(node, Mapping):
            for k, v in node.items():
                if isinstance(v, str) and v and is_secret_key(str(k)):
                    found.append(v)
                else:
                    visit(v)
        elif isinstance(node, (list, tuple)):
            for v in node:
                visit(v)
        elif isinstance(node, str):
            found.extend(value for key, value in _ASSIGNMENT.findall(node) if is_secret_key(key))
            found.extend(m.group(2) for m in _URL_PASSWORD.finditer(node))  # also where it shows without the URL

    visit(obj)
    return found


@dataclass(frozen=True)
class Redactor:
    """Masks secrets in text and in nested data (dicts, lists, strings); see the module docstring."""

    literals: tuple[str, ...] = field(default_factory=tuple)

    @classmethod
    def create(cls, *sources: Any, environ: Mapping[str, str] | None = None) -> Redactor:
        """A redactor for the environment's secrets plus those named inside `sources` (configs, overrides)."""
        values = set(env_secrets(environ))
        for source in sources:
            values.update(v for v in secrets_in(source) if len(v) >= MIN_LITERAL)
        values.discard(MASK)
        return cls(tuple(sorted(values, key=len, reverse=True)))

    def text(self, text: str) -> str:
        """`text` with every secret replaced by ***."""
        text = _TOKEN_SHAPES.sub(MASK, text)
        text = _URL_PASSWORD.sub(lambda m: f"{m.group(1)}:{MASK}", text)
        for value in self.literals:
            text = text.replace(value, MASK)
        text = _ASSIGNMENT.sub(lambda m: f"{m.group(1)}={MASK}" if is_secret_key(m.group(1)) else m.group(0), text)
        return _YAML_ENTRY.sub(_mask_yaml_entry, text)

    def yaml(self, text: str) -> str:
        """`text()` for a YAML document: a value that now starts with *** is quoted (else an alias)."""
        masked = self.text(text)
        return _YAML_STARTS_MASKED.sub(lambda m: m.group(1) + "'" + m.group(2).replace("'", "''") + "'", masked)

    def data(self, obj: Any) -> Any:
        """A copy of `obj` (nested dicts/lists) with secret-named values and secrets in strings masked."""
        if isinstance(obj, Mapping):
            return {
                k: MASK if isinstance(v, str) and v and is_secret_key(str(k)) else self.data(v) for k, v in obj.items()
            }
        if isinstance(obj, (list, tuple)):
            return [self.data(v) for v in obj]
        if isinstance(obj, str):
            return self.text(obj)
        return obj

    def strings(self, values: Sequence[str]) -> list[str]:
        return [self.text(v) for v in values]


def _mask_yaml_entry(m: re.Match[str]) -> str:
    if not is_secret_key(m.group(2)) or m.group(3).strip("'\" ") in (MASK, "", "null"):
        return m.group(0)
    return f"{m.group(1)}{m.group(2)}: '{MASK}'"
