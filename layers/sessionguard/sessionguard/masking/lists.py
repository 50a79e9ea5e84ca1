"""A word value that is really a list of assignments (helm's `--set a=1,db.password=x`, a query string
`?token=x&page=2`, `mount -o user=u,password=p`): its secret-named items are masked one by one."""

from __future__ import annotations

from typing import Final

from sessionguard.masking.heuristics import classify_name, is_placeholder
from sessionguard.masking.regex import Regex
from sessionguard.masking.spans import Span

# `,name=` / `&name=` inside a word: where the next assignment of a list starts.
_LIST_ITEM: Final = Regex(r"[,&][A-Za-z0-9_.-]+=")
_NAME_CHARS: Final = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789_.-"


def split_list(data: bytes, start: int, stop: int, priority: int, spans: list[Span]) -> int:
    """A word value that is really a list (`a=1,password=x`, `?token=x&page=2`): mask the secret-named
    items after the first one here, and return where the first value ends."""
    if data.find(b",", start, stop) < 0 and data.find(b"&", start, stop) < 0:
        return stop
    item = _LIST_ITEM.search_within(data, start, stop)
    if item is None:
        return stop
    first_stop = item[0][0]
    pos = first_stop
    # Next "," and next "&", each found once and reused, so the walk stays linear in the value's length.
    comma = data.find(b",", pos + 1, stop)
    amp = data.find(b"&", pos + 1, stop)
    while pos < stop:
        if 0 <= comma <= pos:
            comma = data.find(b",", pos + 1, stop)
        if 0 <= amp <= pos:
            amp = data.find(b"&", pos + 1, stop)
        nxt = min(x for x in (comma, amp, stop) if x >= 0)
        name, equals, value = data[pos + 1 : nxt].partition(b"=")
        if equals and value and name and not name.translate(None, _NAME_CHARS):
            kind = classify_name(name, "w")
            if kind is not None and not is_placeholder(value):
                value_start = pos + 1 + len(name) + 1
                spans.append((value_start, nxt, priority, kind))
        pos = nxt
    return first_stop


__all__ = ["split_list"]
