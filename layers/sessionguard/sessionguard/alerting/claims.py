"""Claiming a delivery's alerts in one conditional write, and delivering each channel once without a record per
delivery (docs/alerts.md, "Noise control" and "Retries"; docs/performance.md, "What a delivery costs").

Everything the subscription function remembers about a session's alerts lives in one item per session (the
session ledger's item when the stack has the ledger, so that the same write returns the session's start for the
alerts' context; else `session#<id>` in the alert state table), as top-level attributes named by digests (a
nested map path needs its parent to exist, which one expression cannot both create and fill):

- `alert_<k>`: the claim of delivery key k (an alert, a summary, a finding) as a lease, `<batch>:<claimed
  ms>:<until ms>`: the batch that claimed it, when, and until when the claimant may still be delivering it (its
  invocation's time left; 0 once that attempt recorded what it did and ended);
- `window_<w>`: the alert key that holds window w (a rule in a session in one bucket of event time);
- `cap_admitted`: the alert keys the session's cap let through; `cap_summary`: the one that went over it;
- `delivered_<b>`: what batch b delivered (digests of delivery keys), written only when one of its deliveries
  failed, so that the retry repeats only the rest.

The happy path writes nothing after the claim: the transcript write that ends the delivery carries its delivery
record (the batch id, `ledger.model.delivery_record`), and that record is what says the delivery completed. A
retry that meets its own claim with the lease still running looks for that record (one FilterLogEvents, on this
rare path only) and waits for Lambda's next retry when it is not there; once the lease has run out without it,
the claimant is known to have stopped before its transcript write, and the alert is delivered again.

This module is pure: the decisions and the write they need. `adapters.dynamodb.SessionClaims` makes the call.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final, Protocol

from sessionguard.alerting.noise import Decision

if TYPE_CHECKING:
    from aws_lambda_powertools.utilities.typing import LambdaContext

CLAIM_PREFIX: Final = "alert_"
WINDOW_PREFIX: Final = "window_"
DONE_PREFIX: Final = "delivered_"
ADMITTED: Final = "cap_admitted"
SUMMARY: Final = "cap_summary"
_DIGEST_CHARS: Final = 24  # 96 bits: no two keys of one session collide
# The most alerts one session's item admits, whatever AlertCapPerSession says (0, no cap of its own, included): a
# DynamoDB item holds at most 400 KB, and the item is also the session ledger's record, which the ledger function
# must still be able to update. An admitted alert costs its claim (`alert_<24>` = `<batch 32>:<13>:<13>`, 90
# bytes), its window (`window_<24>` = `<24>`, 55) and its place in `cap_admitted` (24): 169 bytes, 169 KB for
# 1,000; at most about 150 more each when every alert went out in a delivery of its own that failed and recorded
# what it delivered (`delivered_<24>`: a 24-character digest per channel): about 320 KB in all, under the limit
# with room for the ledger's own attributes (tests/functional/test_ledger_robustness.py: 169,817 and 323,817 bytes).
SESSION_ALERTS_MAX: Final = 1000


def session_cap(configured: int) -> int:
    """The cap a session's item enforces: the configured one (AlertCapPerSession), bounded by SESSION_ALERTS_MAX;
    0 (no cap of its own) is that maximum."""
    return SESSION_ALERTS_MAX if configured <= 0 else min(configured, SESSION_ALERTS_MAX)


def digest(text: str) -> str:
    """A short stable digest of a key (the item holds ids and hashes only, never session text)."""
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:_DIGEST_CHARS]


@dataclass(frozen=True, slots=True)
class Lease:
    """A claim: which batch claimed the key, when (ms), and until when its invocation may still be delivering
    it (ms; 0 when the attempt ended and recorded what it did)."""

    batch: str
    claimed_ms: int
    until_ms: int

    def encode(self) -> str:
        """The attribute's value."""
        return f"{self.batch}:{self.claimed_ms}:{self.until_ms}"

    @classmethod
    def parse(cls, text: str) -> Lease | None:
        batch, _, rest = text.partition(":")
        claimed, _, until = rest.partition(":")
        if not batch or not claimed.isdigit() or not until.isdigit():
            return None
        return cls(batch, int(claimed), int(until))

    def live(self, now_ms: int) -> bool:
        return self.until_ms > now_ms


@dataclass(frozen=True, slots=True)
class ClaimState:
    """What a session's item says about its alerts (attribute values as plain str and set[str])."""

    claims: Mapping[str, str] = field(default_factory=dict)  # key digest -> encoded lease
    windows: Mapping[str, str] = field(default_factory=dict)  # window digest -> holder's key digest
    admitted: frozenset[str] | None = None  # None: the attribute is absent
    summary: str | None = None
    done: Mapping[str, frozenset[str]] = field(default_factory=dict)  # batch digest -> delivered key digests

    @classmethod
    def of(cls, item: Mapping[str, Any]) -> ClaimState:
        claims, windows, done = {}, {}, {}
        for name, value in item.items():
            if name.startswith(CLAIM_PREFIX) and isinstance(value, str):
                claims[name.removeprefix(CLAIM_PREFIX)] = value
            elif name.startswith(WINDOW_PREFIX) and isinstance(value, str):
                windows[name.removeprefix(WINDOW_PREFIX)] = value
            elif name.startswith(DONE_PREFIX) and isinstance(value, set | frozenset):
                done[name.removeprefix(DONE_PREFIX)] = frozenset(str(v) for v in value)
        admitted = item.get(ADMITTED)
        summary = item.get(SUMMARY)
        return cls(
            claims=claims,
            windows=windows,
            admitted=frozenset(str(v) for v in admitted) if isinstance(admitted, set | frozenset) else None,
            summary=summary if isinstance(summary, str) else None,
            done=done,
        )


@dataclass(frozen=True, slots=True)
class Candidate:
    """An alert to decide: its delivery key, the window it falls in (None: no window) and whether the session's
    cap counts it."""

    key: str
    window: str | None
    counted: bool = True


def decide(candidates: Sequence[Candidate], state: ClaimState, cap: int) -> list[Decision]:
    """The decision for each candidate, in order, against `state` (an empty state for the optimistic first write).
    A key claimed already is delivered: its claim decided it, and what its claimant did says what is left.
    Otherwise as `noise.NoiseControl` decides: the window's first alert, then the session's cap (`session_cap` of
    `cap`: the first alert over it takes the summary)."""
    cap = session_cap(cap)
    claimed = set(state.claims)
    windows = dict(state.windows)
    admitted = set(state.admitted or ())
    summary = state.summary
    decisions = []
    for candidate in candidates:
        own = digest(candidate.key)
        if own in claimed:
            decisions.append(Decision.DELIVER)
            continue
        holder = windows.get(candidate.window) if candidate.window else None
        if holder is not None and holder != own:
            decisions.append(Decision.DUPLICATE)
            continue
        decision = Decision.DELIVER
        if candidate.counted and own not in admitted:
            if len(admitted) < cap:
                admitted.add(own)
            elif summary is None or summary == own:
                summary = own
                decision = Decision.SUMMARY
            else:
                decision = Decision.OVER_CAP
        if candidate.window and decision is not Decision.OVER_CAP:
            windows[candidate.window] = own
        decisions.append(decision)
    return decisions


@dataclass
class ClaimWrite:
    """One conditional UpdateItem on the session's item: attributes to set (name -> string), keys to add to the
    admitted set, and the conditions the decisions rest on: attributes absent or still equal to what was read,
    and room in the admitted set. Windows, the summary and the admitted set only ever grow (nothing removes a
    holder or an admitted key), so a decision that one is taken or full stays true and needs no condition."""

    sets: dict[str, str] = field(default_factory=dict)
    admit: set[str] = field(default_factory=set)
    absent: set[str] = field(default_factory=set)
    equal: dict[str, str] = field(default_factory=dict)
    admitted_at_most: int | None = None  # size(cap_admitted) <= this (or absent)

    @property
    def empty(self) -> bool:
        return not self.sets and not self.admit


def claim_write(
    candidates: Sequence[Candidate],
    decisions: Sequence[Decision],
    claims: Mapping[str, Lease],
    state: ClaimState | None,
    *,
    cap: int,
    sent: Collection[str],
) -> ClaimWrite:
    """The write that makes `decisions` hold for the candidates whose keys are in `sent` (what goes out: an alert
    held back by the per-delivery cap takes no window and no place under the cap) and takes `claims` (key ->
    lease). `state` is what the decisions were made against, or None for the optimistic first write (decided
    against an empty state). `cap` is the configured one, bounded as `decide` bounds it."""
    cap = session_cap(cap)
    write = ClaimWrite()
    seen = state or ClaimState()
    for key, lease in claims.items():
        name = CLAIM_PREFIX + digest(key)
        write.sets[name] = lease.encode()
        held = seen.claims.get(digest(key))
        if held is None:
            write.absent.add(name)
        else:
            write.equal[name] = held  # taken again: only if no other attempt took it since
    for candidate, decision in zip(candidates, decisions, strict=True):
        own = digest(candidate.key)
        if own in seen.claims or candidate.key not in sent:
            continue  # claimed before (its window and cap were decided then), or not sent
        if candidate.window and decision in (Decision.DELIVER, Decision.SUMMARY):
            name = WINDOW_PREFIX + candidate.window
            if seen.windows.get(candidate.window) is None and name not in write.sets:
                write.sets[name] = own
                write.absent.add(name)
        if candidate.counted and decision is Decision.DELIVER and own not in (seen.admitted or ()):
            write.admit.add(own)
        if decision is Decision.SUMMARY and seen.summary is None:
            write.sets[SUMMARY] = own
            write.absent.add(SUMMARY)
    if write.admit or (state is None and Decision.SUMMARY in decisions):
        # Room for what is added; for the optimistic write's summary, the set as the decisions saw it: empty.
        write.admitted_at_most = cap - len(write.admit)
    return write


# --- delivering each channel once, from what the claims say ---------------------------------------------------


class LegacyRecords(Protocol):
    """The delivery records the previous version wrote (Powertools Idempotency, one per delivery key): read only
    for a delivery that may be a retry of one it began (docs/alerts.md, "Retries")."""

    def delivered(self, key: str) -> bool:
        """Whether the previous version recorded `key` as delivered; raises when its attempt may still be running."""
        ...


class DeliveredElsewhere(RuntimeError):
    """A delivery key held by an attempt that may still be delivering it: the invocation fails, and Lambda's retry
    finds the lease run out or the delivery complete."""


@dataclass
class DoneSet:
    """`noise.Ledger` for one invocation of the subscription function: runs each delivery unless what the claims
    say (`done`, digests of delivery keys) or the previous version's records (`legacy`) show it done, and remembers
    what ran, which the invocation records only when something failed."""

    done: set[str] = field(default_factory=set)
    legacy: LegacyRecords | None = None
    ran: set[str] = field(default_factory=set)

    def once(self, key: str, action: Callable[[], object]) -> bool:
        own = digest(key)
        if own in self.done:
            return False
        if self.legacy is not None and self.legacy.delivered(key):
            self.done.add(own)
            return False
        action()
        self.ran.add(own)
        self.done.add(own)
        return True

    def register_lambda_context(self, context: LambdaContext) -> None:
        """Nothing to register: the lease is taken from the time left when the claim is written."""


__all__ = [
    "ADMITTED",
    "CLAIM_PREFIX",
    "DONE_PREFIX",
    "SESSION_ALERTS_MAX",
    "SUMMARY",
    "WINDOW_PREFIX",
    "Candidate",
    "ClaimState",
    "ClaimWrite",
    "DeliveredElsewhere",
    "DoneSet",
    "Lease",
    "LegacyRecords",
    "claim_write",
    "decide",
    "digest",
    "session_cap",
]
