"""Kubernetes Secrets printed as YAML (`kubectl get secret -o yaml`, manifests): the values under `data:` and
`stringData:`, which no name announces, over as many lines (and events) as the mapping runs.

Line by line, with a little state: a `data:` line opens the mapping (of a core `v1` object only: a custom
resource's `data:`, such as SopsSecret templates, is not a Secret's), a line no deeper than it closes it. Under
`data:` a value is masked when it is base64 (a ConfigMap's `data:` of plain settings stays readable), under
`stringData:` always; `key: |` opens a block scalar whose lines are the value. `kind: Secret` may come after
`data:` (kubectl prints keys in order), so the kind is not waited for.
"""

from __future__ import annotations

from typing import Final

from sessionguard.masking.heuristics import is_placeholder
from sessionguard.masking.regex import Regex

# A `key: value` entry of a YAML mapping, and a base64 value (length a multiple of 4, padding at the end only).
_ENTRY: Final = Regex(r"^[ \t]*[\"']?[A-Za-z0-9_.-]+[\"']?:[ \t]+(?P<v>\S.*)$")
_ENTRY_VALUE: Final[int] = _ENTRY.groupindex["v"]
_BASE64: Final = Regex(r"(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?")
_BASE64_MIN: Final = 10  # as gitleaks' kubernetes-secret-yaml: shorter base64 holds 6 bytes or fewer
_BLOCK_SCALARS: Final = frozenset({b"|", b">", b"|-", b">-", b"|+", b">+"})
# The masker's rules that drive this state (rules.CONTEXT_RULES): their `special`.
OPENS: Final = "yaml-data"
API_VERSION: Final = "yaml-api-version"


def _is_base64(value: bytes) -> bool:
    return len(value) >= _BASE64_MIN and _BASE64.fullmatch(value)


class SecretData:
    """One session's view of the YAML it prints: whether a `data:` mapping is open, and what the last
    `apiVersion:` said. `line` returns the (start, stop) spans of the values to mask on a line inside it."""

    __slots__ = ("_core", "_open")

    def __init__(self) -> None:
        # (indentation of `data:`, base64 only, indentation of an open block scalar or -1), or None
        self._open: tuple[int, bool, int] | None = None
        self._core = True  # the last `apiVersion:` seen was the core `v1` (or none was seen)

    @property
    def is_open(self) -> bool:
        return self._open is not None

    def api_version(self, version: bytes) -> None:
        self._core = version == b"v1"

    def open(self, indent: int, *, string_data: bool) -> None:
        if self._core:
            self._open = (indent, not string_data, -1)

    def line(self, data: bytes) -> list[tuple[int, int]]:
        """The spans to mask on a line while the mapping is open; a line no deeper than `data:` closes it."""
        if self._open is None:
            return []
        data_indent, base64_only, scalar_indent = self._open
        content = data.lstrip(b" \t")
        if not content.strip() or content.startswith(b"#"):
            return []
        indent = len(data) - len(content)
        if indent <= data_indent:
            self._open = None
            return []
        if scalar_indent >= 0 and indent > scalar_indent:  # a line of a block scalar (`tls.key: |`)
            body = content.rstrip()
            return [(indent, indent + len(body))] if not base64_only or _is_base64(body) else []
        self._open = (data_indent, base64_only, -1)
        return self._entry(data, indent, base64_only)

    def _entry(self, data: bytes, indent: int, base64_only: bool) -> list[tuple[int, int]]:
        """`key: value`: the value is masked; `key: |` opens a block scalar."""
        entry = _ENTRY.match(data)
        if entry is None or self._open is None:
            return []
        start, stop = entry[_ENTRY_VALUE]
        value = data[start:stop].rstrip()
        if value in _BLOCK_SCALARS:
            self._open = (self._open[0], base64_only, indent)
            return []
        quoted = len(value) >= 2 and value[:1] in (b'"', b"'") and value[-1:] == value[:1]
        inner = value[1:-1] if quoted else value
        if not inner or is_placeholder(inner) or (base64_only and not _is_base64(inner)):
            return []
        start += 1 if quoted else 0
        return [(start, start + len(inner))]
