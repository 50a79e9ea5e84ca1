"""Values announced by the line before: a line that says its value comes on the next line (or lines), and what
each such line must look like. The masker remembers the announcement (SecretMasker._pending) and reads the next
line with these shapes (SecretMasker._take_pending)."""

from __future__ import annotations

from typing import Final

from sessionguard.masking.regex import Regex
from sessionguard.masking.rules import SQL_QUOTED, VAULT_SHARE, rest_value_pattern

# Special rules whose line announces a value on the next line -> what that line holds (masker.SecretMasker._pending).
ANNOUNCES: Final = {
    "prints-value": "printed",
    "name-value": "value",
    "sql-next-line": "sql",
    "xml-open": "xml",
    "json-array": "array",
    "pgpass-file": "pgpass",
    "redis-reply": "redis",
    "redis-raw": "redis-raw",
    "json-share-array": "shares",
    "yaml-list": "yaml-list",
    "secretsdump-secret": "after-colon",
    "wrapped-hash": "hex",
}
# Lines whose secret is on the next line (see masker.SecretMasker._take_pending), and what that line must look like.
# A name/value pair split over two lines (YAML `- name: DB_PASSWORD` / `value: x`, pretty-printed JSON):
_NEXT_VALUE: Final = Regex(rf"^[ \t]*[\"']?value[\"']?[ \t]*:[ \t]*{rest_value_pattern()}")
_NEXT_VALUE_GROUP: Final[int] = _NEXT_VALUE.groupindex["v_r"]
# The value of an XML element on its own line, after its opening tag (maybe behind a heredoc's `> `), or in a
# `<Value>` element of its own (Windows unattend.xml: `<AdministratorPassword>`, then `<Value>x</Value>`).
_NEXT_XML_VALUE: Final = Regex(r"^[ \t>]*(?:<Value>)?(?P<v>[^\s<>]+)(?:</Value>)?[ \t]*$")
# An item of a JSON array of strings, one to a line (`vault operator init -format=json`'s unseal keys).
_NEXT_ARRAY_ITEM: Final = Regex(r'^[ \t]*"(?P<v>[A-Za-z0-9+/=_.-]{16,})",?[ \t]*$')
# The rest of a SQL statement at the client's continuation prompt: `postgres-# 'x';`, `    -> 'x';`.
_NEXT_SQL: Final = Regex(rf"^[ \t]*(?:[A-Za-z0-9_]*[=-]#|->|>)?[ \t]*(?P<v_w>{SQL_QUOTED})")
_NEXT_SQL_GROUP: Final[int] = _NEXT_SQL.groupindex["v_w"]
# A line of a PostgreSQL password file (~/.pgpass): hostname:port:database:username:password, `\:` escaping a colon
# (after `cat -n`'s line number).
_PGPASS_FIELD = r"(?:[^:\s\\]|\\.)+"
_NEXT_PGPASS: Final = Regex(rf"^[ \t]*(?:[0-9]+[ \t]+)?(?:{_PGPASS_FIELD}:){{4}}(?P<v>\S(?:.*\S)?)[ \t]*$")
# A Vault key share alone in a JSON list with no name of its own (`"keys": [`), or any item of a YAML list.
_NEXT_SHARE_ITEM: Final = Regex(rf'^[ \t]*"(?P<v>{VAULT_SHARE})",?[ \t]*$')
_NEXT_YAML_ITEM: Final = Regex(r"^[ \t]*-[ \t]+[\"']?(?P<v>[A-Za-z0-9+/=_.-]{16,})[\"']?[ \t]*$")
# The items of a JSON list of strings on one line (`"unseal_keys_b64": ["a", "b"],`), read one after the other from
# its `[`: each a string, then a `,` or the closing `]`.
INLINE_ITEM: Final = Regex(r'[ \t]*"(?P<v>[^"\\\n]*)"[ \t]*(?P<e>[,\]])')
VAULT_SHARE_ITEM: Final = Regex(VAULT_SHARE)
# secretsdump's `account:password` after the name of an LSA secret; Rubeus' indented lines of a wrapped hash.
_NEXT_AFTER_COLON: Final = Regex(r"^[^:\n]*:(?P<v>\S.*?)[ \t]*$")
_NEXT_HEX: Final = Regex(r"^[ \t]+(?P<v>[0-9A-Fa-f]{16,})[ \t]*$")
# The next element of a redis-cli reply (`CONFIG GET requirepass`, `HGETALL`): `2) "value"`.
_NEXT_REDIS: Final = Regex(r'^[ \t]*[0-9]+\)[ \t]+"(?P<v>[^"\n]+)"[ \t]*$')
# What an announced line must look like (see _take_pending): its pattern, the value's group, how the value is
# judged ("" for a value: quoted or the rest of the line, as it starts), and whether the lines after it may hold
# more of the same (each item of an array, each line of a file; blank and comment lines between them).
NEXT_LINE_SHAPES: Final[dict[str, tuple[Regex, int, str, bool]]] = {
    "value": (_NEXT_VALUE, _NEXT_VALUE_GROUP, "", False),
    "xml": (_NEXT_XML_VALUE, 1, "p", False),
    "sql": (_NEXT_SQL, _NEXT_SQL_GROUP, "q", False),
    "array": (_NEXT_ARRAY_ITEM, 1, "p", True),
    "pgpass": (_NEXT_PGPASS, 1, "p", True),
    "redis": (_NEXT_REDIS, 1, "p", False),
    "shares": (_NEXT_SHARE_ITEM, 1, "p", True),
    "yaml-list": (_NEXT_YAML_ITEM, 1, "p", True),
    "after-colon": (_NEXT_AFTER_COLON, 1, "p", False),
    "hex": (_NEXT_HEX, 1, "v", True),
}


__all__ = ["ANNOUNCES", "INLINE_ITEM", "NEXT_LINE_SHAPES", "VAULT_SHARE_ITEM"]
