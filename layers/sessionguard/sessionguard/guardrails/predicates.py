"""The named predicates a guardrail's `when` resolves to: whether a call's request acts on this stack's resource.

guardrails.yaml names one per guardrail (`when: {predicate: session-key}`), with its arguments if it takes any
(`when: {predicate: session-document-is, documents: [AWS-StartSSHSession]}`). Each is a plain function of the
request parameters and the stack's `ProtectedResources`; the registry says which arguments each takes, so a typo in
the data fails loading instead of matching nothing. Request parameters are whatever the caller sent: every
predicate reads them defensively and never raises.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Final

from sessionguard.guardrails.model import PREFERENCES_DOCUMENT, Condition, ProtectedResources

Params = Mapping[str, Any]


def document_name(value: object) -> str:
    """A document named by name or ARN (`arn:...:document/NAME`), as its name."""
    text = value if isinstance(value, str) else ""
    return text.rsplit(":document/", 1)[-1] if text.startswith("arn:") else text


def session_document_is(params: Params, _: ProtectedResources, *, documents: tuple[str, ...]) -> bool:
    return document_name(params.get("documentName")) in documents


def session_document_is_none_of(params: Params, _: ProtectedResources, *, documents: tuple[str, ...]) -> bool:
    """A session that names a document, and not one of these (a StartSession without one runs the logged shell)."""
    name = document_name(params.get("documentName"))
    return bool(name) and name not in documents


def preferences_document(params: Params, _: ProtectedResources) -> bool:
    return document_name(params.get("name")) == PREFERENCES_DOCUMENT


def session_log_group(params: Params, resources: ProtectedResources) -> bool:
    if params.get("logGroupName") == resources.session_log_group:
        return True
    return params.get("logGroupIdentifier") in (resources.session_log_group, *resources.log_group_arns)


def session_log_retention_shortened(params: Params, resources: ProtectedResources) -> bool:
    days = params.get("retentionInDays")
    if not session_log_group(params, resources) or not isinstance(days, int):
        return False
    return resources.session_log_retention_days == 0 or days < resources.session_log_retention_days


def session_key(params: Params, resources: ProtectedResources) -> bool:
    # DisableKey, ScheduleKeyDeletion and PutKeyPolicy take a key id or key ARN, never an alias.
    return params.get("keyId") in (resources.key_id, resources.key_arn)


def transcript_bucket(params: Params, resources: ProtectedResources) -> bool:
    return params.get("bucketName") == resources.transcript_bucket


def transcript_versioning_suspended(params: Params, resources: ProtectedResources) -> bool:
    configuration = params.get("VersioningConfiguration")
    status = configuration.get("Status") if isinstance(configuration, Mapping) else None
    return transcript_bucket(params, resources) and status == "Suspended"


def logging_policy(params: Params, resources: ProtectedResources) -> bool:
    return params.get("policyArn") == resources.logging_policy_arn


@dataclass(frozen=True, slots=True)
class Predicate:
    test: Callable[..., bool]
    arguments: frozenset[str] = frozenset()  # each a list of strings in the data


PREDICATES: Final[Mapping[str, Predicate]] = {
    "session-document-is": Predicate(session_document_is, frozenset({"documents"})),
    "session-document-is-none-of": Predicate(session_document_is_none_of, frozenset({"documents"})),
    "preferences-document": Predicate(preferences_document),
    "session-log-group": Predicate(session_log_group),
    "session-log-retention-shortened": Predicate(session_log_retention_shortened),
    "session-key": Predicate(session_key),
    "transcript-bucket": Predicate(transcript_bucket),
    "transcript-versioning-suspended": Predicate(transcript_versioning_suspended),
    "logging-policy": Predicate(logging_policy),
}


class UnknownPredicateError(ValueError):
    """A `when` names a predicate the registry lacks, or arguments it does not take."""


def resolve(when: Mapping[str, Any]) -> Condition:
    """The condition a `when` mapping names: its predicate with its arguments bound."""
    name = when.get("predicate")
    predicate = PREDICATES.get(name) if isinstance(name, str) else None
    if predicate is None:
        raise UnknownPredicateError(f"unknown predicate {name!r}; known: {', '.join(sorted(PREDICATES))}")
    arguments = {key: value for key, value in when.items() if key != "predicate"}
    if set(arguments) != predicate.arguments:
        raise UnknownPredicateError(f"predicate {name} takes {sorted(predicate.arguments) or 'no arguments'}")
    for key, value in arguments.items():
        if not isinstance(value, list) or not all(isinstance(item, str) and item for item in value):
            raise UnknownPredicateError(f"predicate {name}: {key} must be a list of strings")
    bound: Condition = partial(predicate.test, **{key: tuple(value) for key, value in arguments.items()})
    return bound


__all__ = ["PREDICATES", "Predicate", "UnknownPredicateError", "document_name", "resolve"]
