"""Session Manager preferences as a CloudFormation custom resource (Custom::SessionManagerPreferences).

Session Manager keeps its regional preferences in one Session document, SSM-SessionManagerRunShell, which the
console usually created long before this stack, so the stack takes the document over instead of owning it:

- Create: if the document is absent, create it (physical id `sessionguard:<name>:created`); otherwise
  remember its default version (`sessionguard:<name>:restore-version=<n>`) and put our content in force.
- Update: same document name → put the new content in force, keep the physical id. New name → take the new
  document over as in Create; the new physical id makes CloudFormation send a Delete for the old one.
- Delete: `created` → delete the document; `restore-version=<n>` → make version n (still in the document's
  history, content untouched) the default again and delete every version above it, so n is also the latest;
  any other id (a failed Create's) → touch nothing.

"In force" means the document's default AND latest version: the console's Preferences page shows the default,
while sessions read the latest (`start-session --document-name` "always uses 'latest' version",
aws/session-manager-plugin#112; AWS's own instructions update preferences with `update-document
--document-version '$LATEST'` and never move the default). Keeping the two equal is right whichever one SSM reads.

The physical id is the only state: CloudFormation stores it and hands it back on Update and Delete.
Document schema: https://docs.aws.amazon.com/systems-manager/latest/userguide/session-manager-schema.html
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from aws_lambda_powertools.utilities.data_classes import CloudFormationCustomResourceEvent
from aws_lambda_powertools.utilities.typing import LambdaContext

from sessionguard.adapters.ssm_documents import (
    SESSION_DOCUMENT_TYPE,
    DocumentAlreadyExistsError,
    DocumentState,
    SessionDocuments,
)
from sessionguard.custom_resource import (
    DEFAULT_TIMEOUT_MARGIN_SECONDS,
    CustomResourceOutcome,
    CustomResourceProgress,
    answer_custom_resource,
)
from sessionguard.observability import logger

DOCUMENT_DESCRIPTION = (
    "Session Manager preferences managed by SessionGuard through CloudFormation: change the stack's "
    "parameters, not this document (the stack overwrites console edits on its next update)."
)
DEFAULT_IDLE_SESSION_TIMEOUT = 20
PHYSICAL_ID_PREFIX = "sessionguard"
_CREATED = "created"
_RESTORE_VERSION = "restore-version="
_LATEST_VERSION = ",latest="

_PROPERTY_NAMES = frozenset(
    {
        "DocumentName",
        "S3BucketName",
        "S3KeyPrefix",
        "CloudWatchLogGroupName",
        "KmsKeyId",
        "RunAsEnabled",
        "RunAsDefaultUser",
        "IdleSessionTimeout",
        "MaxSessionDuration",
        "ShellProfileLinux",
        "ShellProfileWindows",
        "EnforceEncryption",
    }
)
# CloudFormation adds these to every custom resource's properties.
_CLOUDFORMATION_PROPERTY_NAMES = frozenset({"ServiceToken", "ServiceTimeout"})

# Patterns from the SSM, S3 and CloudWatch Logs API references.
_DOCUMENT_NAME = re.compile(r"[a-zA-Z0-9_\-.]{3,128}")
_RESERVED_DOCUMENT_PREFIXES = ("aws", "amazon", "amzn")
_BUCKET_NAME = re.compile(r"[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]")
_LOG_GROUP_NAME = re.compile(r"[.\-_/#A-Za-z0-9]{1,512}")
_KMS_KEY_ID = re.compile(r"[A-Za-z0-9:/_\-]{1,2048}")
_RUN_AS_USER = re.compile(r"[A-Za-z0-9_.\-\\@$]{1,32}")
_WHOLE_NUMBER = re.compile(r"[0-9]{1,5}")


class InvalidPreferencesError(ValueError):
    """The resource properties cannot make a valid preferences document; the message lists every problem."""


@dataclass(frozen=True)
class SessionPreferences:
    """The validated resource properties."""

    document_name: str
    s3_bucket_name: str
    s3_key_prefix: str
    cloudwatch_log_group_name: str
    kms_key_id: str
    run_as_enabled: bool
    run_as_default_user: str
    idle_session_timeout: int
    max_session_duration: int | None
    shell_profile_linux: str
    shell_profile_windows: str
    # The agent refuses a session it cannot record on an encrypted group and bucket. False only while a fleet is
    # brought into line: sessions then start anyway, and those the agent cannot record are not recorded.
    enforce_encryption: bool = True


@dataclass(frozen=True)
class Takeover:
    """How the stack came to manage a document: it created it, or it replaced version `restore_version` (the
    default then) while the account's versions went up to `latest_version` (when newer than the default)."""

    document_name: str
    restore_version: str | None  # None: the stack created the document
    latest_version: str | None = None  # None: the default was also the latest (or an id from before it was kept)

    @property
    def physical_id(self) -> str:
        if self.restore_version is None:
            how = _CREATED
        else:
            how = f"{_RESTORE_VERSION}{self.restore_version}"
            if self.latest_version is not None and self.latest_version != self.restore_version:
                how += f"{_LATEST_VERSION}{self.latest_version}"
        return f"{PHYSICAL_ID_PREFIX}:{self.document_name}:{how}"

    def account_versions(self) -> int:
        """The newest version that was the account's before the takeover: it and every older one are never
        deleted (0 when the stack created the document)."""
        return max(_number(self.restore_version or "0"), _number(self.latest_version or "0"))


def parse_physical_id(physical_id: str) -> Takeover | None:
    """The takeover a physical id records, or None if this resource never produced that id."""
    prefix, _, rest = physical_id.partition(":")
    name, _, how = rest.partition(":")
    if prefix != PHYSICAL_ID_PREFIX or not _DOCUMENT_NAME.fullmatch(name):
        return None
    if how == _CREATED:
        return Takeover(name, None)
    version, _, latest = how.removeprefix(_RESTORE_VERSION).partition(_LATEST_VERSION)
    if not how.startswith(_RESTORE_VERSION) or not version.isdigit() or version == "0":
        return None
    if _LATEST_VERSION not in how:
        return Takeover(name, version)
    if latest.isdigit() and int(latest) > int(version):
        return Takeover(name, version, latest)
    return None


def parse_preferences(properties: Mapping[str, Any]) -> SessionPreferences:
    """Validate and convert CloudFormation's resource properties (all strings), listing every problem."""
    problems: list[str] = []

    unknown = sorted(set(properties) - _PROPERTY_NAMES - _CLOUDFORMATION_PROPERTY_NAMES)
    if unknown:
        problems.append(f"unknown properties {', '.join(unknown)}")

    def text(name: str, pattern: re.Pattern[str] | None = None, *, required: bool = False) -> str:
        value: object = properties.get(name, "")
        if not isinstance(value, str):
            problems.append(f"{name} must be a string")
            return ""
        if required and not value:
            problems.append(f"{name} is required")
        elif value and pattern is not None and not pattern.fullmatch(value):
            problems.append(f"{name} {value!r} is not a valid value")
        return value

    def boolean(name: str, default: str = "false") -> bool:
        value: object = properties.get(name, default)
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in {"true", "false"}:
            return value.lower() == "true"
        problems.append(f'{name} must be "true" or "false" (got {value!r})')
        return False

    def minutes(name: str, maximum: int, *, when_empty: int | None) -> int | None:
        value: object = properties.get(name, "")
        if value in ("", None):
            return when_empty
        if isinstance(value, int) and not isinstance(value, bool):
            value = str(value)
        if isinstance(value, str) and _WHOLE_NUMBER.fullmatch(value) and 1 <= int(value) <= maximum:
            return int(value)
        problems.append(f"{name} must be a whole number of minutes from 1 to {maximum}, or empty (got {value!r})")
        return when_empty

    document_name = text("DocumentName", _DOCUMENT_NAME, required=True)
    if document_name.lower().startswith(_RESERVED_DOCUMENT_PREFIXES):
        problems.append(f"DocumentName {document_name!r} starts with a prefix SSM reserves (AWS, Amazon, amzn)")
    idle_session_timeout = minutes("IdleSessionTimeout", 60, when_empty=DEFAULT_IDLE_SESSION_TIMEOUT)
    s3_key_prefix = text("S3KeyPrefix")
    if s3_key_prefix.startswith("/") or s3_key_prefix.endswith("/"):
        # The agent writes <prefix>/<session id>.log; a slash here would not match the bucket policy's prefix.
        problems.append(f"S3KeyPrefix {s3_key_prefix!r} must not start or end with '/'")
    preferences = SessionPreferences(
        document_name=document_name,
        s3_bucket_name=text("S3BucketName", _BUCKET_NAME, required=True),
        s3_key_prefix=s3_key_prefix,
        cloudwatch_log_group_name=text("CloudWatchLogGroupName", _LOG_GROUP_NAME, required=True),
        kms_key_id=text("KmsKeyId", _KMS_KEY_ID),
        run_as_enabled=boolean("RunAsEnabled"),
        run_as_default_user=text("RunAsDefaultUser", _RUN_AS_USER),
        idle_session_timeout=idle_session_timeout or DEFAULT_IDLE_SESSION_TIMEOUT,
        max_session_duration=minutes("MaxSessionDuration", 1440, when_empty=None),
        # Shell profiles are free-form commands: never quoted back in a reason or a log line.
        shell_profile_linux=text("ShellProfileLinux"),
        shell_profile_windows=text("ShellProfileWindows"),
        enforce_encryption=boolean("EnforceEncryption", default="true"),
    )
    if problems:
        raise InvalidPreferencesError("Invalid SessionManagerPreferences properties: " + "; ".join(problems))
    return preferences


def build_document_content(preferences: SessionPreferences, request_id: str) -> str:
    """The Session document (schemaVersion 1.0, Standard_Stream), serialised the same way every time.

    CloudWatch streaming is always on. Encryption is required for both destinations unless the stack says
    otherwise (EnforceEncryption=false, for a fleet being brought into line): the agent then refuses to start a
    session it could not record encrypted. The description names the CloudFormation request
    that wrote the version, so no two requests write the same content (see _put_in_force).
    """
    document = {
        "schemaVersion": "1.0",
        "description": f"{DOCUMENT_DESCRIPTION} Written by CloudFormation request {request_id}.",
        "sessionType": "Standard_Stream",
        "inputs": {
            "s3BucketName": preferences.s3_bucket_name,
            "s3KeyPrefix": preferences.s3_key_prefix,
            "s3EncryptionEnabled": preferences.enforce_encryption,
            "cloudWatchLogGroupName": preferences.cloudwatch_log_group_name,
            "cloudWatchEncryptionEnabled": preferences.enforce_encryption,
            "cloudWatchStreamingEnabled": True,
            "kmsKeyId": preferences.kms_key_id,
            "runAsEnabled": preferences.run_as_enabled,
            "runAsDefaultUser": preferences.run_as_default_user,
            "idleSessionTimeout": str(preferences.idle_session_timeout),
            "maxSessionDuration": (
                "" if preferences.max_session_duration is None else str(preferences.max_session_duration)
            ),
            "shellProfile": {
                "windows": preferences.shell_profile_windows,
                "linux": preferences.shell_profile_linux,
            },
        },
    }
    return json.dumps(document, indent=2)


def same_content(current: str | None, desired: str) -> bool:
    """Whether two JSON documents say the same thing, whatever their formatting."""
    return _same_documents(current, desired, ignore=())


def same_settings(current: str | None, desired: str) -> bool:
    """Whether two JSON documents hold the same preferences, whatever their formatting and description."""
    return _same_documents(current, desired, ignore=("description",))


def _same_documents(current: str | None, desired: str, *, ignore: tuple[str, ...]) -> bool:
    if current is None:
        return False
    try:
        parsed = [json.loads(current), json.loads(desired)]
    except ValueError:
        return False
    for document in parsed:
        if isinstance(document, dict):
            for key in ignore:
                document.pop(key, None)
    return bool(parsed[0] == parsed[1])


class DocumentStore(Protocol):
    """What the preferences logic needs from SSM (implemented by adapters.ssm_documents)."""

    def describe(self, name: str) -> DocumentState | None: ...
    def version_exists(self, name: str, version: str) -> bool: ...
    def get_content(self, name: str, version: str | None = None) -> str | None: ...
    def create(self, name: str, content: str) -> DocumentState: ...
    def add_version(self, name: str, content: str) -> str | None: ...
    def set_default_version(self, name: str, version: str) -> None: ...
    def delete_version(self, name: str, version: str) -> bool: ...
    def delete(self, name: str) -> bool: ...


class PreferencesDocumentError(Exception):
    """The document is in a state the stack cannot safely take over or update."""


def _put_in_force(
    store: DocumentStore, state: DocumentState, content: str, keep: int, progress: CustomResourceProgress
) -> tuple[str, str]:
    """Make `content` both the latest and the default version of the document; (version, what happened).

    `keep` is the version the stack must give back on Delete (0 if it created the document): nothing at or
    below it is ever deleted.

    Why every write is a new version: SSM refuses content equal to any existing version
    (DuplicateDocumentContent). Without a change in the content, settings A → B → A would have to fall back
    to the older version holding A, and make it the latest again by deleting the versions above it, which is
    impossible when that version is at or below `keep` (the account's own history held A before the
    takeover). build_document_content names the request in the description instead, so update_document always
    adds a version; being the newest it is the latest, and making it the default leaves the two equal.

    DuplicateDocumentContent then means this very request already wrote its content (a replay after a
    failure): that version is made the default and the versions above it are deleted.
    """
    name = state.name
    progress.step = f"reading the default version of {name}"
    if state.default_version == state.latest_version and same_settings(store.get_content(name), content):
        return state.default_version, "unchanged"
    progress.step = f"adding a version to {name}"
    version = store.add_version(name, content)
    replayed = version is None
    if version is None:
        progress.step = f"looking for the version of {name} that holds this content"
        version = _find_version_with(store, state, content, keep)
    progress.step = f"making version {version} the default of {name}"
    store.set_default_version(name, version)
    what = f"version {version} is now the default and latest"
    if replayed:
        deleted = _delete_versions_above(store, name, int(version), _number(state.latest_version), progress)
        what += _deleted_note(deleted)
    return version, what


def _find_version_with(store: DocumentStore, state: DocumentState, content: str, keep: int) -> str:
    """The version above `keep` that holds exactly `content` (newest first)."""
    latest = _number(state.latest_version)
    for number in range(latest, keep, -1):
        if same_content(store.get_content(state.name, str(number)), content):
            return str(number)
    raise PreferencesDocumentError(
        f"SSM reported that a version of {state.name} already has this content (DuplicateDocumentContent) "
        f"but no version above {keep}, the one the stack gives back on delete, holds it"
    )


def _delete_versions_above(
    store: DocumentStore, name: str, keep: int, latest: int, progress: CustomResourceProgress
) -> list[int]:
    """Delete versions latest..keep+1, newest first, so `keep` becomes the latest; the versions deleted.

    The caller has made a version at or below `keep` the default (SSM refuses to delete the default version).
    A version already gone (deleted by hand, or by an earlier attempt of this request) is skipped, so a retry
    after a failure half way finishes the job.
    """
    deleted: list[int] = []
    for number in range(latest, keep, -1):
        progress.step = f"deleting version {number} of {name}"
        if store.delete_version(name, str(number)):
            deleted.append(number)
    if deleted:
        logger.info("Deleted document versions", extra={"document": name, "versions": deleted, "kept": keep})
    return deleted


def _deleted_note(deleted: list[int]) -> str:
    if not deleted:
        return ""
    return f"; deleted version{'s' if len(deleted) > 1 else ''} {', '.join(map(str, sorted(deleted)))}"


def _number(version: str) -> int:
    return int(version) if version.isdigit() else 0


def _take_over(
    store: DocumentStore,
    preferences: SessionPreferences,
    content: str,
    progress: CustomResourceProgress,
    on_takeover: Callable[[Takeover], None],
) -> CustomResourceOutcome:
    """Create the document, or replace its default version and record which one it was.

    `on_takeover` hears of the takeover as soon as it is certain and before anything it would undo has
    changed: right after create_document, or before the first new version of an existing document.
    """
    name = preferences.document_name
    progress.step = f"describing {name}"
    state = store.describe(name)
    if state is None:
        progress.step = f"creating {name}"
        try:
            state = store.create(name, content)
        except DocumentAlreadyExistsError:
            logger.warning("Document appeared while being created; taking it over", extra={"document": name})
            state = store.describe(name)
            if state is None:
                raise PreferencesDocumentError(f"{name} was reported to exist and then not found") from None
        else:
            takeover = Takeover(name, None)
            on_takeover(takeover)
            return _outcome(takeover, state.default_version, f"created {name}")
    _require_session_document(state)
    takeover = Takeover(name, state.default_version, state.latest_version)
    on_takeover(takeover)
    version, what = _put_in_force(store, state, content, takeover.account_versions(), progress)
    return _outcome(takeover, version, f"took over {name} (previous default version {state.default_version}); {what}")


def _update(
    store: DocumentStore, takeover: Takeover, content: str, progress: CustomResourceProgress
) -> CustomResourceOutcome:
    name = takeover.document_name
    progress.physical_resource_id = takeover.physical_id
    progress.step = f"describing {name}"
    state = store.describe(name)
    if state is None:
        # Deleted outside the stack: create it again; the physical id (so what Delete does) stays the same.
        logger.warning("Managed document is missing; creating it again", extra={"document": name})
        progress.step = f"creating {name}"
        created = store.create(name, content)
        return _outcome(takeover, created.default_version, f"{name} was missing and has been created again")
    _require_session_document(state)
    version, what = _put_in_force(store, state, content, takeover.account_versions(), progress)
    return _outcome(takeover, version, f"updated {name}; {what}")


def _release(store: DocumentStore, physical_id: str, progress: CustomResourceProgress) -> CustomResourceOutcome:
    """Undo the takeover the physical id records."""
    takeover = parse_physical_id(physical_id)
    if takeover is None:
        logger.info("Physical id is not a SessionGuard takeover; nothing to undo", extra={"id": physical_id})
        return CustomResourceOutcome(physical_id, reason="nothing to undo")
    name = takeover.document_name
    if takeover.restore_version is None:
        progress.step = f"deleting {name}"
        deleted = store.delete(name)
        return CustomResourceOutcome(physical_id, reason=f"deleted {name}" if deleted else f"{name} already gone")
    version = takeover.restore_version
    progress.step = f"describing {name}"
    state = store.describe(name)
    if state is None:
        logger.warning("Document to restore no longer exists", extra={"document": name})
        return CustomResourceOutcome(physical_id, reason=f"{name} no longer exists; nothing to restore")
    if state.default_version != version:
        progress.step = f"checking that version {version} of {name} still exists"
        if not store.version_exists(name, version):
            # Someone deleted that version; failing would block the stack's deletion for something it cannot fix.
            logger.warning(
                "Version to restore no longer exists; leaving the current default",
                extra={"document": name, "version": version, "default_version": state.default_version},
            )
            return CustomResourceOutcome(physical_id, reason=f"version {version} of {name} no longer exists")
        progress.step = f"restoring version {version} of {name} as the default"
        store.set_default_version(name, version)
    # Sessions read the latest version: ours (and any version added after the takeover) must go, or the stack's
    # preferences, naming a bucket and log group this deletion removes, would stay in force. The account's own
    # versions stay, the latest of them latest again, as before the takeover.
    kept = takeover.account_versions()
    removed = _delete_versions_above(store, name, kept, _number(state.latest_version), progress)
    latest = f", version {kept} the latest" if kept != int(version) else " and latest"
    return CustomResourceOutcome(
        physical_id, reason=f"restored version {version} of {name} as the default{latest}{_deleted_note(removed)}"
    )


def _require_session_document(state: DocumentState) -> None:
    if state.document_type != SESSION_DOCUMENT_TYPE:
        raise PreferencesDocumentError(
            f"{state.name} is a {state.document_type or 'untyped'} document, not a Session document; "
            "refusing to change it"
        )


def _outcome(takeover: Takeover, version: str, reason: str) -> CustomResourceOutcome:
    return CustomResourceOutcome(
        takeover.physical_id,
        data={"DocumentName": takeover.document_name, "DocumentVersion": version},
        reason=reason,
    )


def apply_preferences_request(
    event: CloudFormationCustomResourceEvent, store: DocumentStore, progress: CustomResourceProgress
) -> CustomResourceOutcome:
    """Carry out one Create, Update or Delete request against the document store."""
    request_type = event.request_type
    if request_type == "Delete":
        return _release(store, event.physical_resource_id, progress)
    progress.step = "validating the resource properties"
    preferences = parse_preferences(event.resource_properties)
    content = build_document_content(preferences, event.request_id)
    if request_type == "Create":

        def publish(takeover: Takeover) -> None:
            # A FAILED Create answer carrying this id makes CloudFormation's rollback Delete undo the change.
            progress.physical_resource_id = takeover.physical_id

        return _take_over(store, preferences, content, progress, publish)
    if request_type == "Update":
        current = parse_physical_id(event.physical_resource_id)
        if current is not None and current.document_name == preferences.document_name:
            return _update(store, current, content, progress)
        return _take_over_on_update(store, preferences, content, progress, event.physical_resource_id)
    raise ValueError(f"unknown RequestType {request_type!r}")


def _take_over_on_update(
    store: DocumentStore,
    preferences: SessionPreferences,
    content: str,
    progress: CustomResourceProgress,
    old_physical_id: str,
) -> CustomResourceOutcome:
    """Another document (or an id we did not make): a new takeover and a new physical id, after which
    CloudFormation sends a Delete for the old id.

    A failed Update keeps the old physical id, so no Delete would ever undo a half-done takeover of the new
    document: undo it here, best effort, before answering FAILED.
    """
    progress.physical_resource_id = old_physical_id
    started: list[Takeover] = []
    try:
        return _take_over(store, preferences, content, progress, started.append)
    except Exception:
        for takeover in started:
            try:
                _release(store, takeover.physical_id, progress)
            except Exception:
                logger.exception("Could not undo a partial takeover", extra={"id": takeover.physical_id})
        raise


def handle_preferences_event(
    event: CloudFormationCustomResourceEvent,
    context: LambdaContext,
    *,
    store: DocumentStore | None = None,
    timeout_margin_seconds: float = DEFAULT_TIMEOUT_MARGIN_SECONDS,
) -> None:
    """The Lambda entry point's one call: apply the request and always answer CloudFormation."""
    documents: list[DocumentStore] = [store] if store is not None else []

    def work(request: CloudFormationCustomResourceEvent, progress: CustomResourceProgress) -> CustomResourceOutcome:
        if not documents:
            documents.append(SessionDocuments())  # created inside the guard: a client error is answered too
        return apply_preferences_request(request, documents[0], progress)

    answer_custom_resource(event, context, work, timeout_margin_seconds=timeout_margin_seconds)
