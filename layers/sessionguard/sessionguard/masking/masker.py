"""The one masker every outgoing string passes through: secrets in session text become ``[MASKED:<kind>]``.

Only the value is replaced, so a line stays readable (``mysql -u app -p[MASKED:mysql-password] orders``).
docs/masking.md is the reference: every kind, an example, and what is deliberately left alone.

How it works, and why:
- The person in the session controls the text, so every pattern is RE2 (google-re2): linear time, no
  backtracking, whatever the input. There is no Python ``re`` in this package.
- Lines are masked as UTF-8 bytes (``surrogatepass``, so lone surrogates from damaged terminal output survive
  the round trip) with RE2 in Latin-1 mode: every pattern is ASCII, every class treats the bytes >= 0x80 alike,
  so a replaced span can never cut a multi-byte character in half, and nothing here can raise on odd input.
- Fast path: most lines (``ls -la``, journal output) contain no secret-like text. One ``re2.Set`` of literal
  trigger substrings (``pass``, ``token``, ``akia``, ``://`` ...) rejects them with a single call and the line is
  returned as is. Every rule declares its triggers, and a rule can only fire on a line that holds one of them.
  A Set reports "no match" also when its DFA runs out of memory, so the trigger Set holds literals only: its
  DFA is then an Aho-Corasick automaton with at most one state per trigger character and cannot run out.
- One RE2 call costs ~0.7 us of fixed binding overhead (scanning costs ~2 ns a byte), more than scanning a
  whole line, so ``mask_lines`` (what the engine calls per event or batch of events) runs the trigger check once
  over all lines of the block, then once more per line with triggers. On such a line, each rule's cheap
  ``requires`` substrings are checked before its RE2 search.
- Searches go to google-re2's pybind binding directly (`regex.Regex`), not through its ``re``-like wrapper,
  which adds 0.4-0.7 us to every search, ~0.35 us to every span() of its matches and ~2.5 us to a group() by name: that
  was most of the cost of masking a line with a secret (15-20 us then, 8-12 us now, of which ~4 us in RE2).
- Linear on hostile lines: every search resumes after the text it consumed, a rejected name consumes only
  itself and its separator and is judged before its value (which may run to the end of the line) is read
  (_apply_assignments), look-backs are bounded, and markers are cut out in one sweep.
- A few secrets come on the line after the one that announces them (`aws configure get ...`, a psql/mysql
  continuation prompt, YAML `- name: DB_PASSWORD` then `value: x`, `<apiToken>` then the value) or under a YAML
  `data:` (Kubernetes Secrets): the masker keeps that as per-session state.
- Layers: SessionGuard's token shapes (tokens.yaml), gitleaks' rules (gitleaks.py), the context rules (rules.py);
  a token alone on a line is judged by a provider's prefix (gitleaks.bare_provider_rule), else by its shape; a
  value masked once is masked where it comes back in the session (repeats.py).
- Idempotent: markers of known kinds are recognised and never masked again or split; a value that contains a
  marker (even a forged one) has its other parts masked around it.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Final

import re2

from sessionguard.masking import gitleaks, heuristics, kubernetes
from sessionguard.masking.announced import ANNOUNCES, INLINE_ITEM, NEXT_LINE_SHAPES, VAULT_SHARE_ITEM
from sessionguard.masking.assignments import AssignedValues, assignment_kind
from sessionguard.masking.gitleaks import gitleaks_kinds, gitleaks_rules
from sessionguard.masking.hashes import HASH_RULES
from sessionguard.masking.heuristics import (
    BARE_CHARS,
    BASE64_WRAP,
    MARKER_PREFIX_BYTES,
    REFERENCE_VALUE,
    Place,
    bare_token,
    classify_name,
    in_flow_mapping,
    is_arn,
    is_mixed_case,
    is_placeholder,
    is_placeholder_token,
    is_random_bare_token,
    is_random_value,
    is_text_not_value,
    looks_like_aws_secret,
    looks_like_key_material,
    may_be_bare_token,
    names_a_column_key,
    names_a_file,
    names_a_reference,
    no_value_here,
    plain_name_kind,
)
from sessionguard.masking.kinds import KINDS as OWN_KINDS
from sessionguard.masking.kinds import MARKER_PREFIX
from sessionguard.masking.lists import split_list
from sessionguard.masking.pieces import PIECE_MIN, edge_spans
from sessionguard.masking.regex import Match, Regex, build_trigger_set
from sessionguard.masking.repeats import KnownHits, KnownValues
from sessionguard.masking.rules import (
    CONTEXT_RULES,
    SUBSTITUTION,
    Rule,
    looks_random,
    make_rule,
    rest_value_pattern,
    value_pattern,
)
from sessionguard.masking.spans import Overlaps, Span, Span3, cut_out_markers, merge_spans
from sessionguard.masking.tables import SecretColumns
from sessionguard.masking.tokens import token_rules
from sessionguard.masking.windows import WINDOWS_RULES

# Every kind a marker can name: SessionGuard's own (kinds.py) and gitleaks' rule ids.
KINDS: Final = OWN_KINDS | gitleaks_kinds()
_MARKER_RE: Final = Regex(r"\[MASKED:(?:" + "|".join(sorted(KINDS)) + r")\]")

# PEM private keys (RFC 7468; OpenSSH and PGP use the same armour): the BEGIN/END lines stay readable.
_PEM_BEGIN: Final = Regex(r"-----BEGIN[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
_PEM_END: Final = Regex(r"-----END[ A-Z0-9]*PRIVATE KEY(?: BLOCK)?-----")
# A line inside a block: base64 (or an already masked body line), possibly behind a heredoc's "> " or YAML
# indentation, or an armour header (Proc-Type:, DEK-Info:, Version:) or a blank line. Anything else ends the
# block: a missing END line must not blank the rest of the session (it would also hide commands from review).
# A trailing `$` is cat -A's end-of-line mark; a key written as string concatenation in code quotes each line
# (`"MIIE…\n" +`).
_PEM_BODY: Final = Regex(
    r"^[ \t>]*[\"']?(?P<v_v>[A-Za-z0-9+/=]+|\[MASKED:private-key\])(?:\\n|[ \t\"',$+])*$"
    r"|^[ \t>]*(?:[A-Za-z][A-Za-z-]*:[ \t].*)?[ \t$]*$"
)
_PEM_BODY_GROUP: Final[int] = _PEM_BODY.groupindex["v_v"]
# The same behind any prefix (group p), for blocks whose BEGIN line had one: `cat -n` line numbers, `git diff`'s
# -/+, `docker logs -t` timestamps. The prefix must have the BEGIN line's prefix's shape (_prefix_shape).
_PEM_BODY_PREFIXED: Final = Regex(
    r"^(?P<p>[^\n]*?)(?:(?P<v_v>[A-Za-z0-9+/=]+|\[MASKED:private-key\])(?:\\n|[ \t\"',$])*"
    r"|[A-Za-z][A-Za-z-]*:[ \t].*)$"
)
_PEM_BODY_PREFIXED_GROUP: Final[int] = _PEM_BODY_PREFIXED.groupindex["v_v"]
_PEM_PREFIX_MAX: Final = 64  # longer text before a BEGIN line is not a prefix that repeats on every line
_DIGITS_TO_ZERO: Final = bytes.maketrans(b"0123456789", b"0000000000")
_PEM_TRIGGER: Final = "-----begin"

# After `"Type": "SecureString"` the decrypted value comes within a few lines (JSON or YAML output).
SSM_VALUE_RULE: Final = make_rule(
    "ssm-secure-string",
    (),
    # `--value X` is one shell word (what follows is the next argument); `"Value": X` and `Value = X` run on.
    rf"--value(?:=|[ \t]+){value_pattern('vw')}"
    rf"|(?i:(?:^|[\s{{,])[\"']?value[\"']?[ \t]*(?::[ \t]*|=)){rest_value_pattern()}",
)
_SSM_SECURE: Final = b"SecureString"  # the rule's pattern: a literal, so `in` finds it without an RE2 call
# Values announced by the line before (_take_pending) are added through _add_span as if by this rule.
_PENDING_RULE: Final = make_rule("secret", (), r"\z")
_column_kind: Final = functools.partial(classify_name, mode="w")  # what a table's column holds, by its name (tables.py)
_SSM_WINDOW: Final = 6
# A command substitution that is a whole shell value, followed only by shell operators (`$(cat f) && \`).
_LEADING_SUBSTITUTION: Final = Regex(rf"({SUBSTITUTION})[ \t]*(?:&&|\|\||;|\||\\|$)")


def _may_match(rule: Rule, data: bytes, pos: int) -> bool:
    """The rule's cheap necessary conditions hold in data[pos:] (no RE2 call; plain loops, as generator
    expressions here would cost more than the search they save)."""
    for needed in rule.requires:
        for needle in needed:
            if data.find(needle, pos) >= 0:
                break
        else:
            return False
    return True


def _prefix_shape(prefix: bytes) -> bytes:
    """What stays the same in a prefix from line to line: digits become one 0 (`     12 ` and `      9 ` are
    both `0`; `2024-05-01T12:00:00.123Z ` is `0-0-0T0:0:0.0Z`), surrounding blanks go."""
    shape = prefix.strip(b" \t").translate(_DIGITS_TO_ZERO)
    while b"00" in shape:
        shape = shape.replace(b"00", b"0")
    return shape


@functools.lru_cache(maxsize=64)
def _marker(kind: str) -> bytes:
    return f"{MARKER_PREFIX}{kind}]".encode()


# Every rule in precedence order: own token shapes (tokens.yaml), gitleaks', password hashes (hashes.py), Windows'
# (windows.py), context rules.
RULES: Final = (*token_rules(), *gitleaks_rules(), *HASH_RULES, *WINDOWS_RULES, *CONTEXT_RULES)
# Where gitleaks' rules start: the rules before are SessionGuard's own token shapes, which a gitleaks rule that
# lets a match go overrides (SecretMasker._vetoed).
_GITLEAKS_START: Final = next(index for index, rule in enumerate(RULES) if rule.special == gitleaks.SPECIAL)
_GITLEAKS_END: Final = _GITLEAKS_START + len(gitleaks_rules())
# A token alone on a line (heuristics.bare_credential) is named only if no rule named it.
_BARE_PRIORITY: Final = len(RULES)
# Spans found by the stateful handlers (key blocks, SecureString values) name the marker when they overlap.
_STATEFUL_PRIORITY: Final = -1
# Spans a gitleaks span over the same value gives way to (_prefer_sessionguard_spans): SessionGuard's token shapes,
# its context rules but the generic secret-named assignment (whose value may be a token with `=` inside, as
# `pscale_pw_x=y`, that gitleaks takes whole), and the stateful ones (key blocks, pending values).
_PRECISE: Final = frozenset(
    {_STATEFUL_PRIORITY}
    | {index for index, rule in enumerate(RULES) if rule.special not in (gitleaks.SPECIAL, "assignment")}
)
_ALL_TRIGGERS: Final = tuple(sorted({t for rule in RULES for t in rule.triggers} | {_PEM_TRIGGER}))
# One Set entry per rule (and a last one for private-key blocks): which rules can fire on a line. No match at
# all is the fast path: the line is returned unchanged after this single call.
RULE_TRIGGER_SET: Final = build_trigger_set([*(rule.triggers for rule in RULES), (_PEM_TRIGGER,)])
# All triggers as one regex, to find where they are in a block of lines (mask_lines), and a line that is one token
# alone (which holds no trigger but may be a credential, see bare_credential).
ANY_TRIGGER_RE: Final = Regex(
    "(?i)" + "|".join(re2.escape(t) for t in _ALL_TRIGGERS) + rf"|(?m:^[ \t]*{BARE_CHARS}{{16,}}[ \t]*$)"
)
# Lines that hold a trigger but nothing to mask (`sudo yum update -y`, `journalctl -u nginx`) come back again and
# again in sessions. For a masker with no state (no key block, prompt or SecureString pending), masking a line
# depends on the line alone, so such a line, once found clean and leaving no state behind, is skipped the next
# time. Only clean lines are kept (nothing that was masked), short ones, at most _CLEAN_LINES_SIZE of them.
CLEAN_LINES: Final[set[bytes]] = set()
_CLEAN_LINES_SIZE: Final = 4096
_CLEAN_LINE_MAX: Final = 1024
# A value masked once is masked again wherever it comes back in the session (repeats.py); such a span names its
# marker last.
_REPEAT_PRIORITY: Final = _BARE_PRIORITY + 1


class SecretMasker:
    """Stateful per session: a PEM private-key block opened in one line (or event) stays masked, line by line,
    until its END line; other state (e.g. `aws configure` prompts answered on the next line) likewise."""

    __slots__ = (
        "_after_dump",
        "_after_piece",
        "_counts",
        "_in_pem",
        "_known",
        "_pem_prefix",
        "_pem_shape",
        "_pending",
        "_secure_window",
        "_stateful",
        "_table",
        "_vetoes",
        "_yaml",
    )

    def __init__(self) -> None:
        self._counts: dict[str, int] = {}
        self._in_pem = False
        self._pem_prefix = b""  # what came before the open block's BEGIN line (`     1 `, `-`, a timestamp)
        self._pem_shape = b""  # its shape (_prefix_shape), for prefixes that change from line to line
        # (what the next line holds, kind of its value): "prompt" (aws configure answer), "printed" (a value
        # printed alone), "value" (the value: of a name/value pair), "sql" (a SQL statement's password)
        self._pending: tuple[str, str] | None = None
        self._table = SecretColumns()  # a table whose header names a secret's column (tables.py)
        self._secure_window = 0  # lines left in which a SecureString's "Value" may appear
        self._yaml: kubernetes.SecretData | None = None  # made when YAML's `data:` or `apiVersion:` is first seen
        self._after_dump = False  # the last token alone on a line was a line of a base64 dump (64 or 76 wide)
        self._stateful = False
        # Spans of the current line that a gitleaks rule matched but let go (entropy, allow-list), and whether for
        # its entropy floor: SessionGuard's own token shapes over the same text let go too (AKIAIOSFODNN7EXAMPLE,
        # Google's public browser keys), and so does a context value that is that very text and too plain.
        self._vetoes: list[tuple[int, int, bool]] = []
        self._known = KnownValues()  # values masked so far in this session (repeats.py)
        self._after_piece = False  # the last line may have been a piece of a line the agent cut (pieces.py)

    @property
    def counts(self) -> Mapping[str, int]:
        """Kind -> how many values were masked so far (a PEM block counts once). Never the values."""
        return MappingProxyType(self._counts)

    @property
    def total(self) -> int:
        """How many values were masked so far, all kinds together: a cheap test of whether `counts` changed."""
        return sum(self._counts.values())

    def mask(self, line: str) -> str:
        """One cleaned terminal line (command or output) -> the same line with every secret value masked."""
        data = line.encode("utf-8", "surrogatepass")
        selected = RULE_TRIGGER_SET.Match(data)
        quiet = not selected and not self._stateful and len(data) < PIECE_MIN and not may_be_bare_token(data)
        if quiet and not self._known.held_in(data):  # looked for last: it searches the line once per known value
            return line
        return self._mask_candidate(line, data, selected)

    def mask_lines(self, lines: Sequence[str]) -> list[str]:
        """Mask consecutive lines (e.g. the sessionData of one event or of a batch of events): the same result as
        mask() on each line in turn, but one trigger scan over the whole block instead of one RE2 call (~0.7 us)
        per line."""
        result = list(lines)
        if len(result) <= 1:
            return [self._mask_apart(line) for line in result]
        block = "\n".join(result).encode("utf-8", "surrogatepass")
        last = len(result) - 1
        if block.count(b"\n") != last or (len(block) >= PIECE_MIN and _has_piece(block)):
            # A line holds a newline itself (the block does not show where lines end), or may be a cut's piece.
            return [self._mask_apart(line) for line in result]
        # Line `index` starts at block[pos]. A block without triggers costs one RE2 call, each line with some one
        # more (the search for the next). Lines are counted with bytes.count/find from hit to hit, not split up
        # front: many lines and few triggers stay cheap. A value masked before is a hit too (repeats.KnownHits).
        known = KnownHits(self._known, block)
        index = pos = 0
        if not self._stateful:
            found = ANY_TRIGGER_RE.search(block)
            hit = known.nearer(-1 if found is None else found[0][0], 0)
            if hit < 0:  # usually: nothing secret-like in the whole block
                return result
            index = block.count(b"\n", 0, hit)
            pos = block.rfind(b"\n", 0, hit) + 1
        while True:
            end = len(block) if index == last else block.find(b"\n", pos)
            data = block[pos:end]
            if self._stateful or known.within(pos, end) or not _is_clean(data):
                learned = self._known.learned
                result[index] = self._mask_found(result[index], data, RULE_TRIGGER_SET.Match(data))
                if self._known.learned != learned:  # a value this line taught, to look for in the lines after it
                    known.follow(self._known, end)
            if index == last:
                return result
            index += 1
            pos = end + 1
            if not self._stateful:  # skip to the next line with a trigger or a known value
                found = ANY_TRIGGER_RE.search(block, pos)
                hit = known.nearer(-1 if found is None else found[0][0], pos)
                if hit < 0:
                    return result
                index += block.count(b"\n", pos, hit)
                pos = max(pos, block.rfind(b"\n", pos, hit) + 1)  # after the last newline before the hit, if any

    def _mask_found(self, line: str, data: bytes, selected: Sequence[int]) -> str:
        """A line of mask_lines with triggers (or any, with state); one clean from no state, leaving none, is kept."""
        stateless = not self._stateful
        masked = self._mask_candidate(line, data, selected)
        if masked is line and stateless and not self._stateful and len(data) <= _CLEAN_LINE_MAX:
            _remember_clean(data)
        return masked

    def _mask_apart(self, line: str) -> str:
        """mask_lines on a line taken alone: the Set both finds triggers and selects the rules (one RE2 call)."""
        data = line.encode("utf-8", "surrogatepass")
        must_look = len(data) >= PIECE_MIN or self._known.held_in(data)  # a piece's edges, a value masked before
        if not self._stateful and not must_look and _is_clean(data):
            return line
        selected = RULE_TRIGGER_SET.Match(data)
        if not selected and not self._stateful and not must_look and not may_be_bare_token(data):
            return line
        return self._mask_found(line, data, selected)

    # --- slow path ----------------------------------------------------------------------------------------

    def _mask_candidate(self, line: str, data: bytes, selected: Sequence[int]) -> str:
        try:
            spans = self._collect(data, selected)
            if not spans:
                return line
            return self._replace(data, spans)
        except Exception:  # fail closed: an internal error must never let the raw line out
            self._counts["unparsed-line"] = self._counts.get("unparsed-line", 0) + 1
            return f"{MARKER_PREFIX}unparsed-line]"

    def _collect(self, data: bytes, selected: Sequence[int]) -> list[Span]:
        spans: list[Span] = []
        if self._in_pem and self._continue_pem(data, spans):
            self._update_stateful()
            return spans
        self._continue_state(data, spans)
        if b"-----BEGIN" in data:
            self._open_pem(data, spans)
        if may_be_bare_token(data):
            self._mask_bare_token(data, spans)
        self._vetoes.clear()
        for index in selected:
            if index >= len(RULES):
                continue  # the private-key entry: handled above
            rule = RULES[index]
            if not _may_match(rule, data, 0):
                continue
            if rule.special:
                self._apply_special(rule, index, data, spans)
            else:
                self._apply_rule(rule, index, data, spans)
        if self._vetoes:
            self._drop_vetoed(spans)
        if len(spans) > 1:
            _prefer_sessionguard_spans(spans)
        if spans or self._known.values:
            # Learned first, so that a value's second copy in this very line is masked too.
            self._known.learn(data, spans)
            spans += self._known.repeats(data, _REPEAT_PRIORITY)
        if self._after_piece or len(data) >= PIECE_MIN:
            spans += edge_spans(data, after_piece=self._after_piece, priority=_REPEAT_PRIORITY)
            self._after_piece = len(data) >= PIECE_MIN
        self._update_stateful()
        return spans

    def _continue_state(self, data: bytes, spans: list[Span]) -> None:
        """What earlier lines left open: a value announced for this line, a YAML `data:` mapping, a SecureString."""
        if self._pending is not None:
            self._take_pending(data, spans)
        table = self._table.line(data, _column_kind)  # rows under a secret's column, or a header naming one
        spans.extend((start, stop, _STATEFUL_PRIORITY, kind) for start, stop, kind in table)
        if self._yaml is not None and self._yaml.is_open:
            spans.extend((start, stop, _STATEFUL_PRIORITY, "secret") for start, stop in self._yaml.line(data))
        if self._secure_window > 0:
            self._secure_window -= 1
            if self._find_secure_value(data, 0, spans):
                self._secure_window = 0

    def _drop_vetoed(self, spans: list[Span]) -> None:
        """Drop a span of SessionGuard's own token shapes, or of a token alone, over text a gitleaks rule let go; and
        a context value that is exactly the secret a gitleaks rule found below its entropy floor (`API_KEY="glc_1…"`:
        the provider's shape, not a provider's random token). An allow-list that is a pattern does not let such a
        value go (vault-service-token's `s.` and 24 letters is still a token under `VAULT_TOKEN=`)."""
        vetoed = Overlaps((start, stop) for start, stop, _plain in self._vetoes)
        plain = {(start, stop) for start, stop, too_plain in self._vetoes if too_plain}
        spans[:] = [
            span
            for span in spans
            if not (
                ((0 <= span[2] < _GITLEAKS_START or span[2] == _BARE_PRIORITY) and vetoed.overlap(span[0], span[1]))
                or (_GITLEAKS_END <= span[2] < _BARE_PRIORITY and (span[0], span[1]) in plain)
            )
        ]

    def _mask_bare_token(self, data: bytes, spans: list[Span]) -> None:
        """A credential printed alone on its line: a provider's token by its prefix (gitleaks.bare_provider_rule,
        named after the rule), else one by its shape (is_random_bare_token); the short last line of a base64 dump
        (a PGP message, `base64 file`), right after its full-width lines, is not one by its shape."""
        stripped = data.strip()
        after_dump = self._after_dump
        self._after_dump = len(stripped) in BASE64_WRAP and is_mixed_case(stripped)
        bare = bare_token(data)
        if bare is None:
            return
        token = data[bare[0] : bare[1]]
        if (provider := gitleaks.bare_provider_rule(token, data)) is not None:
            spans.append((*bare, _GITLEAKS_START + provider, RULES[_GITLEAKS_START + provider].kind))
        elif not after_dump and is_random_bare_token(token) and not gitleaks.has_provider_prefix(token):
            spans.append((*bare, _BARE_PRIORITY, "high-entropy-token"))

    def _update_stateful(self) -> None:
        in_yaml = self._yaml is not None and self._yaml.is_open
        self._stateful = self._in_pem or self._pending is not None or self._secure_window > 0 or in_yaml
        self._stateful |= self._table.is_open
        self._stateful |= self._after_piece

    def _take_pending(self, data: bytes, spans: list[Span]) -> None:
        """The line after one that announced its value (see _pending): mask the value if the line has it."""
        if self._pending is None:
            return
        (what, kind), self._pending = self._pending, None
        if what == "redis-raw":  # the name alone, then its value alone on the next line
            if data.strip() in (b"requirepass", b"masterauth"):
                self._pending = ("printed", kind)
            return
        if what in NEXT_LINE_SHAPES:
            regex, group, mode, repeats = NEXT_LINE_SHAPES[what]
            match = regex.match(data)
            if match is None:
                if repeats and (not data.strip() or data.lstrip().startswith(b"#")):
                    self._pending = (what, kind)  # a blank or comment line between two of them
                return
            start, stop = match[group]
            mode = mode or ("q" if data[start] in b"\"'" else "r")
            self._add_span(_PENDING_RULE, match, data, spans, kind=kind, mode=mode, span=(start, stop, 0))
            if repeats:  # until a line that is not one (`]`, the next prompt)
                self._pending = (what, kind)
            return
        token = data.strip()
        if what == "printed" and len(token) > 2 and token[0] == token[-1] == 34:  # jq without -r: "value"
            token = token[1:-1]
        if not token or b" " in token or b"\t" in token or is_placeholder(token):
            return
        if what == "printed" and kind == "aws-secret-access-key" and not looks_like_aws_secret(token):
            return  # `aws configure get aws_secret_access_key` printing nothing, then the next command
        start = data.index(token)
        spans.append((start, start + len(token), 0, kind))

    def _continue_pem(self, data: bytes, spans: list[Span]) -> bool:
        """Inside a private-key block. True when the line was a body line and needs nothing else."""
        end = _PEM_END.search(data)
        if end is not None:
            self._in_pem = False
            before = data[: end[0][0]]
            offset = self._pem_prefix_length(before, whole=True)
            body = before[offset:].strip(b" \t>\"'")
            if body:
                start = before.index(body, offset)
                spans.append((start, start + len(body), _STATEFUL_PRIORITY, "private-key"))
            return False
        span = self._pem_body(data)
        if span is None or (span[0] >= 0 and heuristics.is_word_not_key_material(data[span[0] : span[1]])):
            self._in_pem = False  # not key material: the block was never closed; judge this line normally
            return False
        if span[0] >= 0:
            spans.append((span[0], span[1], _STATEFUL_PRIORITY, "private-key"))
        return True

    def _pem_body(self, data: bytes) -> tuple[int, int] | None:
        """The key material of a line inside a block ((-1, -1) for a blank or armour header line), or None when
        the line is not part of the block. A line may repeat the BEGIN line's prefix, literally (`-`, `> `) or
        in shape (`cat -n` numbers, `docker logs -t` timestamps)."""
        offset = self._pem_prefix_length(data, whole=False)
        if offset:
            body_line = _PEM_BODY.search(data[offset:])
            if body_line is not None:
                start, stop = body_line[_PEM_BODY_GROUP]
                return (start + offset, stop + offset) if start >= 0 else (-1, -1)
        if self._pem_shape and len(data) <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data) == self._pem_shape:
            return (-1, -1)  # the prefix alone (`     4 ` for a blank line under cat -n)
        body_line = _PEM_BODY.search(data)
        if body_line is not None:
            return body_line[_PEM_BODY_GROUP]
        if self._pem_shape:
            body_line = _PEM_BODY_PREFIXED.search(data)
            if body_line is not None:
                prefix_end = body_line[1][1]
                if prefix_end <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data[:prefix_end]) == self._pem_shape:
                    return body_line[_PEM_BODY_PREFIXED_GROUP]
        return None

    def _pem_prefix_length(self, data: bytes, *, whole: bool) -> int:
        """How much of data is the open block's prefix: the BEGIN line's literal prefix, or (whole: when all of
        data is to be the prefix, as before an END line) any text of the same shape."""
        if self._pem_prefix and data.startswith(self._pem_prefix):
            return len(self._pem_prefix)
        if whole and self._pem_shape and len(data) <= 2 * _PEM_PREFIX_MAX and _prefix_shape(data) == self._pem_shape:
            return len(data)
        return 0

    def _open_pem(self, data: bytes, spans: list[Span]) -> None:
        pos = 0
        while True:
            begin = _PEM_BEGIN.search(data, pos)
            if begin is None:
                return
            self._counts["private-key"] = self._counts.get("private-key", 0) + 1
            begin_end = begin[0][1]
            end = _PEM_END.search(data, begin_end)
            stop = end[0][0] if end is not None else len(data)
            inner = data[begin_end:stop]
            body = inner.strip()
            # key material, not just the quote or `\n"` that closes an `echo '-----BEGIN ...'` or a JSON string
            # (`\n" +` in code), or the `$` that cat -A prints at the end of a line
            if body.strip(b"'\",;()\\n$+ \t"):
                start = begin_end + inner.index(body)
                spans.append((start, start + len(body), _STATEFUL_PRIORITY, "private-key"))
            if end is None:
                self._in_pem = True  # the body follows on the next lines (or events)
                prefix = data[: begin[0][0]]
                if len(prefix) > _PEM_PREFIX_MAX or not prefix.strip(b" \t>"):
                    prefix = b""  # none, or only what _PEM_BODY accepts anyway
                self._pem_prefix = prefix
                self._pem_shape = _prefix_shape(prefix) if prefix else b""
                return
            pos = end[0][1]

    def _find_secure_value(self, data: bytes, pos: int, spans: list[Span]) -> bool:
        found = False
        while (match := SSM_VALUE_RULE.regex.search(data, pos)) is not None:
            found |= self._add_value(SSM_VALUE_RULE, _STATEFUL_PRIORITY, match, data, spans)
            pos = max(match[0][1], pos + 1)
        return found

    def _apply_assignments(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        """NAME=value in two phases. A match of the first ends at the separator, so when the name is not a
        secret's (KEY_ID=, auth: in a log line) the search goes on right there and the value, which may hold
        the next assignment, is still seen. A value is consumed only once accepted (or found to be prose), which
        keeps the scan linear even on hostile lines of rejected names: a name is judged before its value is read."""
        search = rule.regex.search
        group_r = rule.regex.groupindex["r"]
        group_c = rule.regex.groupindex["c"]
        pos, size = 0, len(data)
        content = -1  # where the line's text starts after indentation, list dashes, quotes (computed when needed)
        # Quotes before the current name, counted from one name to the next (names come in order): linear.
        quotes_at = singles = doubles = 0
        values = AssignedValues(data)
        while pos <= size and (pos == 0 or _may_match(rule, data, pos)):  # _collect checked it at 0
            match = search(data, pos)
            if match is None:
                return
            pos = max(match[0][1], pos + 1)
            rest = match[group_r][0] >= 0
            colon = match[group_c][0] >= 0  # NAME:value, no space
            name_start, name_end = match[rule.name_group]
            first = data[pos : pos + 1]
            mode = "q" if first in (b'"', b"'") else "r" if rest else "w"
            kind, plain = assignment_kind(data[name_start:name_end], mode)
            if kind is None or no_value_here(data, (name_start, name_end), pos, kind, colon=colon):
                continue
            flow = mode == "r" and in_flow_mapping(data, name_start)
            value = values.read(pos, rest=rest, flow=flow)
            if value is None or (plain and not is_random_value(data[value[0] : value[1]])):
                continue
            start, stop = value
            separator = data[match[group_r][0] : match[group_r][1]]
            if mode == "r" and b":" in separator and b"=" not in separator:  # `name: rest`
                if content < 0:
                    content = len(data) - len(data.lstrip(b" \t-#>\"'"))
                if quotes_at < name_start:
                    singles += data.count(b"'", quotes_at, name_start)
                    doubles += data.count(b'"', quotes_at, name_start)
                    quotes_at = name_start
                place = Place(
                    before=data[max(0, name_start - 3) : name_start],
                    line_start=name_start <= content,
                    quoted=bool(singles % 2 or doubles % 2),
                    flow=flow,
                )
                if is_text_not_value(data[start:stop], data[name_start:name_end], place):
                    pos = max(pos, stop)  # consumed: prose holds no other assignment
                    continue
            span = (start, stop, index)
            # `AUTH=p@ss:w/rd`: an `=` assignment's value is one whole (`--auth=user:password` keeps its user)
            equals = not colon and (not rest or (b"=" in separator and b"=>" not in separator))
            whole = equals and data[name_start : name_start + 1] != b"-"
            accepted = self._add_span(rule, match, data, spans, kind=kind, mode=mode, span=span, whole=whole)
            # A word value that is a list (`a=1,password=x,…`) had all its items judged by _split_list: consumed
            # even when its first value is let go, or every later item would start another walk (quadratic).
            if accepted or (mode == "w" and (data.find(b",", start, stop) >= 0 or data.find(b"&", start, stop) >= 0)):
                pos = max(pos, stop)

    def _apply_htpasswd(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        """The password's position depends on the options: the second argument with -n, else the third."""
        pos = 0
        flags = rule.regex.groupindex["f"]
        while (match := rule.regex.search(data, pos)) is not None:
            pos = max(match[0][1], pos + 1)
            flags_start, flags_end = match[flags]
            options = [option for option in data[flags_start:flags_end].split() if option.startswith(b"-")]
            if not any(b"b" in option for option in options):
                continue
            second, third = rule.value_groups[0][0], rule.value_groups[1][0]
            start, stop = match[second if any(b"n" in option for option in options) else third]
            if start >= 0:
                mode = "q" if data[start] in b"\"'" else "w"
                self._add_span(rule, match, data, spans, kind=rule.kind, mode=mode, span=(start, stop, index))

    def _apply_special(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        special = rule.special
        if special == gitleaks.SPECIAL:
            self._apply_gitleaks(rule, index, data, spans)
        elif special == "assignment":
            self._apply_assignments(rule, index, data, spans)
        elif special == "htpasswd":
            self._apply_htpasswd(rule, index, data, spans)
        elif special == "secure-string":
            if _SSM_SECURE in data and not self._find_secure_value(data, 0, spans):
                self._secure_window = _SSM_WINDOW
        elif special in ANNOUNCES:
            self._apply_announcement(rule, data)
        elif special == "inline-array":
            self._apply_inline_array(rule, index, data, spans)
        elif special == kubernetes.OPENS:
            match = rule.regex.match(data)
            if match is not None:
                start, stop = match[1]
                self._kubernetes().open(start, string_data=data[start:stop] == b"stringData")
        elif special == kubernetes.API_VERSION:
            match = rule.regex.match(data)
            if match is not None:
                self._kubernetes().api_version(data[match[1][0] : match[1][1]])
        else:
            self._apply_aws_prompt(rule, index, data, spans)

    def _kubernetes(self) -> kubernetes.SecretData:
        if self._yaml is None:
            self._yaml = kubernetes.SecretData()
        return self._yaml

    def _apply_gitleaks(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        """A gitleaks rule: its secret is masked if it passes the rule's entropy floor and allow-lists and is no
        stand-in (heuristics.is_placeholder_token); else its span is a veto (see _vetoed)."""
        check = rule.gitleaks
        if check is None:
            return
        search = rule.regex.search
        pos = 0
        size = len(data)
        while pos <= size:
            match = search(data, pos)
            if match is None:
                return
            pos = max(match[0][1], pos + 1)
            start, stop = check.secret_span(match)
            if start >= stop:
                continue
            secret = data[start:stop]
            if check.accepts(secret, data[match[0][0] : match[0][1]], data) and not is_placeholder_token(secret):
                spans.append((start, stop, index, rule.kind))
            else:
                self._vetoes.append((start, stop, check.too_plain(secret)))
            if pos >= size:  # the match ran to the end of the line: no search left to do
                return

    def _apply_inline_array(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        """Each item of a JSON list of key shares on one line (`"unseal_keys_b64": ["a", "b"]`, the HTTP API's
        `{"keys":[…],"keys_base64":[…]}`); under a bare `keys`, only items shaped like a share. Linear: each search
        starts where the last list ended."""
        pos = 0
        while (match := rule.regex.search(data, pos)) is not None:
            name_start, name_end = match[rule.name_group]
            shares_only = data[name_start:name_end] == b"keys"
            pos = match[0][1] - 1  # the item's opening quote
            while (item := INLINE_ITEM.match(data, pos)) is not None:
                start, stop = item[1]
                if not shares_only or VAULT_SHARE_ITEM.fullmatch(data[start:stop]):
                    self._add_span(rule, item, data, spans, kind=rule.kind, mode="p", span=(start, stop, index))
                pos = item[0][1]
                if data[item[2][0] : item[2][1]] == b"]":
                    break
            pos = max(pos, match[0][1])

    def _apply_announcement(self, rule: Rule, data: bytes) -> None:
        """A line whose value comes on the next line (see ANNOUNCES): remember what to look for there."""
        if rule.special == "sql-next-line" and not data.rstrip()[-8:].lower().endswith((b"by", b"as", b"password")):
            return  # most lines with PASSWORD do not end with it: no RE2 call for them
        match = rule.regex.search(data)
        if match is None:
            return
        kind: str | None = rule.kind
        if rule.name_group:
            start, end = match[rule.name_group]
            kind = classify_name(data[start:end], "w")
        if kind is not None:
            self._pending = (ANNOUNCES[rule.special], kind)

    def _apply_aws_prompt(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        """`aws configure`: the answer is on this line, or (prompt flushed before Enter) on the next one."""
        match = rule.regex.search(data)
        if match is None:
            return
        key_start, key_end = match[rule.regex.groupindex["k"]]
        kind = {b"secret access key": "aws-secret-access-key", b"access key id": "aws-access-key-id"}.get(
            data[key_start:key_end].lower(), "aws-session-token"
        )
        start, stop = match[rule.value_groups[0][0]]
        if start == stop:
            self._pending = ("prompt", kind)
        elif not is_placeholder(data[start:stop]):
            spans.append((start, stop, index, kind))

    def _apply_rule(self, rule: Rule, index: int, data: bytes, spans: list[Span]) -> None:
        search = rule.regex.search
        pos = 0
        size = len(data)
        while pos <= size and (pos == 0 or _may_match(rule, data, pos)):  # _collect checked it at 0
            match = search(data, pos)
            if match is None:
                return
            added = self._add_value(rule, index, match, data, spans)
            # Always move past the whole match: re-scanning a consumed value could make many matches on one
            # hostile line quadratic. Values are complete by construction (list items are handled inside).
            pos = max(match[0][1], pos + 1)
            if not added:
                # A rejected `-word` (`-genkey -storepass X`, `--keyring -password X`) is the next option, not
                # this one's value: search again from the blank before it. Each such word is read at most twice.
                for group, mode in rule.value_groups:
                    if mode == "d" and match[group][0] > match[0][0] + 1:
                        pos = match[group][0] - 1

    def _add_value(self, rule: Rule, priority: int, match: Match, data: bytes, spans: list[Span]) -> bool:
        """Turn one match into the span of its value, unless the name is not a secret's."""
        start = stop = -1
        mode = "v"
        for group, mode in rule.value_groups:  # noqa: B007 - the matching group's mode is used below
            start, stop = match[group]
            if start >= 0:
                break
        if start < 0:
            return False
        if mode in "wr" and data[start] in b"\"'":
            mode = "q"
        kind = rule.kind
        if rule.name_group:
            name_start, name_end = match[rule.name_group]
            name = data[name_start:name_end]
            named = classify_name(name.rsplit(b".", 1)[-1] if rule.dotted_name else name, mode)
            if named is None:  # `--pat X`: a personal access token only if X is random (plain_name_kind)
                if plain_name_kind(name) != "token" or not is_random_value(data[start:stop]):
                    return False
                named = "token"
            kind = named
        return self._add_span(rule, match, data, spans, kind=kind, mode=mode, span=(start, stop, priority))

    def _add_span(
        self,
        rule: Rule,
        match: Match,
        data: bytes,
        spans: list[Span],
        *,
        kind: str,
        mode: str,
        span: Span3,
        whole: bool = False,
    ) -> bool:
        """Add the span to mask for a value at data[start:stop] (mode: see the value fragments), unless it is a
        placeholder. `priority` orders overlapping spans (lower wins the marker's name)."""
        start, stop, priority = span
        if mode == "q":
            start, stop = start + 1, stop - 1  # quoted: mask the inside, keep the quotes
        elif mode == "r":
            stop = start + len(data[start:stop].rstrip(b" \t,;"))
            if data[start : start + 1] in (b"$", b"`"):  # `NAME = $(cat /run/secrets/x) && \`: the command only
                leading = _LEADING_SUBSTITUTION.match(data[start:stop])
                if leading is not None:
                    stop = start + leading[1][1]
        elif mode == "w":
            stop = split_list(data, start, stop, priority, spans)
        elif mode == "d" and not looks_random(data[start:stop]):
            return False  # `--password -h db`: the next option, not a value
        value = data[start:stop]
        if (rule.user_split or (kind == "auth" and mode != "v" and not whole)) and b":" in value:  # --auth u:pw
            start += value.index(b":") + 1
        if (
            start >= stop
            or (mode != "v" and is_placeholder(value))
            or is_placeholder_token(value, documented=mode == "v")
            or value in gitleaks.listed_examples()  # `33f!!lloppa`: an example a gitleaks allow-list names
            or (rule.accept is not None and not rule.accept(rule, match, data, value))
            or (kind == "key" and names_a_file(value))  # --private-key /path/key.pem: a file
            or (mode != "v" and is_arn(value, 0))  # an ARN names a secret (Secrets Manager, KMS)
            or (mode != "v" and rule.name_group and self._names_no_secret(rule, match, data, value))
        ):
            return False
        spans.append((start, stop, priority, kind))
        return True

    @staticmethod
    def _names_no_secret(rule: Rule, match: Match, data: bytes, value: bytes) -> bool:
        """An existingSecret / adminPasswordKey whose value is a reference name (see names_a_reference), a primary
        key whose value is a column's name (names_a_column_key), or a name gitleaks' generic-api-key allows
        (`keyVaultToStoreSecrets`: gitleaks.name_holds_no_secret)."""
        name_start, name_end = match[rule.name_group]
        name = data[name_start:name_end]
        if rule.dotted_name:
            name = name.rsplit(b".", 1)[-1]
        if names_a_reference(name) and REFERENCE_VALUE.fullmatch(value):
            return True
        if names_a_column_key(name):  # gitleaks allows primary_key whatever its value: Azure's keys are named so
            return not looks_like_key_material(value)
        return gitleaks.name_holds_no_secret(data, name_start, name_end)

    def _replace(self, data: bytes, spans: list[Span]) -> str:
        if len(spans) == 1 and MARKER_PREFIX_BYTES not in data:  # the usual case, as the sweep below would do it
            start, stop, _priority, kind = spans[0]
            if data[start:stop].strip():
                data = data[:start] + _marker(kind) + data[stop:]
                if kind != "private-key":
                    self._counts[kind] = self._counts.get(kind, 0) + 1
            return data.decode("utf-8", "surrogatepass")
        merged = merge_spans(spans)
        pieces = cut_out_markers(data, merged, _MARKER_RE) if MARKER_PREFIX_BYTES in data else merged
        out: list[bytes] = []
        pos = 0
        for start, stop, _priority, kind in pieces:
            if data[start:stop].strip() == b"":
                continue
            out.append(data[pos:start])
            out.append(_marker(kind))
            pos = stop
            if kind != "private-key":  # a key block counts once, when it opens
                self._counts[kind] = self._counts.get(kind, 0) + 1
        if pos == 0:
            return data.decode("utf-8", "surrogatepass")
        out.append(data[pos:])
        return b"".join(out).decode("utf-8", "surrogatepass")


def _prefer_sessionguard_spans(spans: list[Span]) -> None:
    """A gitleaks span over a value that a precise SessionGuard rule (_PRECISE) also found gives way: those take the
    value exactly, where gitleaks' match may take its surroundings too (curl-auth-user takes `user:password`,
    basic-auth only the password; slack-webhook-url takes the whole URL, slack-webhook only the path), and they
    name the marker as docs/masking.md says. Otherwise the spans merge, named after gitleaks' rule (it comes
    before the context rules), which also wins over a token alone on its line (only its shape named that)."""
    own = [(start, stop) for start, stop, priority, _kind in spans if priority in _PRECISE]
    if len(own) == len(spans) or not own:
        return
    precise = Overlaps(own)
    spans[:] = [
        span for span in spans if not (_GITLEAKS_START <= span[2] < _GITLEAKS_END and precise.overlap(span[0], span[1]))
    ]


def _has_piece(block: bytes) -> bool:
    """Whether a line of the block may be a piece of a line the agent cut (pieces.py)."""
    return any(len(line) >= PIECE_MIN for line in block.split(b"\n"))


def _is_clean(data: bytes) -> bool:
    """A line known to need no masking from a masker without state (see CLEAN_LINES). A long line is never
    kept, so it is not hashed to look for it."""
    return len(data) <= _CLEAN_LINE_MAX and data in CLEAN_LINES


def _remember_clean(data: bytes) -> None:
    """Remember a line that needed no masking and left the masker without state (see CLEAN_LINES)."""
    if b"-----BEGIN" in data or b"apiVersion:" in data or may_be_bare_token(data):
        # A key block's BEGIN counts even with nothing left to mask; an apiVersion line says what a later `data:`
        # holds; a token alone is judged with the line before it (_mask_bare_token).
        return
    if len(CLEAN_LINES) >= _CLEAN_LINES_SIZE:
        CLEAN_LINES.clear()
    CLEAN_LINES.add(data)


def mask_secrets(text: str) -> str:
    """Mask any string, line by line (split on \\n), with a fresh SecretMasker: alerts, messages, log fields."""
    return "\n".join(SecretMasker().mask_lines(text.split("\n")))


__all__ = ["KINDS", "MARKER_PREFIX", "SecretMasker", "mask_secrets"]
