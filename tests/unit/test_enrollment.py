"""Enrollment decisions: which instances, what happens to their profile, when the wait ends, how failures read."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sessionguard.enrollment.decisions import (
    AGENT_UPDATE_RESEND_DELAYS,
    AGENT_UPDATE_TAG,
    COMPLIANCE_TAG,
    DEFAULT_MAX_WAIT_SECONDS,
    ENROLL_TAG,
    ENROLLED_TAG,
    FAILURE_TAG,
    MAX_CHECK_DELAY_SECONDS,
    AgentInfo,
    AgentUpdateInvocation,
    EnrollmentSettings,
    ExistingRole,
    ExistingRoleMode,
    Failure,
    FailureReason,
    FinalEnrollmentError,
    Instance,
    ProfileAction,
    ProfileAssociation,
    RegistrationOutcome,
    ReportOutcome,
    RetryableEnrollmentError,
    SkipReason,
    TagSelector,
    UpdateCheck,
    UpdateOutcome,
    agent_update_comment,
    check_agent_update,
    check_registration,
    classify_aws_error,
    classify_step_error,
    current_association,
    effective_max_wait,
    enrolled_tags,
    error_for,
    execution_input,
    execution_name,
    failure_notice,
    next_check_delay,
    parse_tag_selector,
    plan_profile,
    report_outcome,
    report_tags,
    resend_delay,
    seconds_between,
    skip_reason,
    unseen_instance_may_appear,
)

LAUNCHED = datetime(2024, 5, 1, 12, 34, 56, tzinfo=UTC)
OURS = "arn:aws:iam::123456789012:instance-profile/sessionguard-SessionInstanceProfile-ABC"
THEIRS = "arn:aws:iam::123456789012:instance-profile/app/web-profile"
CORE = "arn:aws:iam::aws:policy/AmazonSSMManagedInstanceCore"
LOGGING = "arn:aws:iam::123456789012:policy/sessionguard-SessionLoggingPolicy-XYZ"
REQUIRED = (CORE, LOGGING)


def instance(state: str = "running", **tags: str) -> Instance:
    return Instance("i-1234567890abcdef0", state, LAUNCHED, tags)


def plan(
    association: ProfileAssociation | None,
    role: ExistingRole | None = None,
    mode: ExistingRoleMode = ExistingRoleMode.ATTACH,
) -> tuple[ProfileAction, tuple[str, ...]]:
    result = plan_profile(association, role, our_profile_arn=OURS, required_policy_arns=REQUIRED, mode=mode)
    return result.action, result.policy_arns


def associated(arn: str, state: str = "associated") -> ProfileAssociation:
    return ProfileAssociation("iip-assoc-0123456789abcdef0", arn, state)


# --- Which instances -----------------------------------------------------------------------------------------


def test_running_instance_without_tags_is_enrolled() -> None:
    assert skip_reason(instance(), None) is None


@pytest.mark.parametrize("value", ["false", "False", " FALSE "])
def test_enroll_false_tag_opts_an_instance_out(value: str) -> None:
    assert skip_reason(instance(**{ENROLL_TAG: value}), None) is SkipReason.OPTED_OUT


def test_enroll_tag_with_another_value_does_not_opt_out() -> None:
    assert skip_reason(instance(**{ENROLL_TAG: "true"}), None) is None


def test_instance_outside_the_tag_selector_is_skipped() -> None:
    selector = TagSelector("env", "prod")
    assert skip_reason(instance(env="dev"), selector) is SkipReason.OUTSIDE_SELECTOR
    assert skip_reason(instance(), selector) is SkipReason.OUTSIDE_SELECTOR
    assert skip_reason(instance(env="prod"), selector) is None


def test_opt_out_wins_over_the_selector() -> None:
    selector = TagSelector("env", "prod")
    assert skip_reason(instance(env="prod", **{ENROLL_TAG: "false"}), selector) is SkipReason.OPTED_OUT


def test_enrolled_instance_is_not_enrolled_again() -> None:
    assert skip_reason(instance(**{ENROLLED_TAG: "2024-05-01T12:40:00Z"}), None) is SkipReason.ALREADY_ENROLLED


@pytest.mark.parametrize("state", ["stopping", "stopped", "shutting-down", "terminated"])
def test_instances_that_are_not_running_are_skipped(state: str) -> None:
    assert skip_reason(instance(state), None) is SkipReason.NOT_RUNNING


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("", None),
        ("  ", None),
        ("env=prod", TagSelector("env", "prod")),
        (" team = platform ", TagSelector("team", "platform")),
        ("query=a=b", TagSelector("query", "a=b")),
        ("flag=", TagSelector("flag", "")),
    ],
)
def test_tag_selector_is_key_equals_value(text: str, expected: TagSelector | None) -> None:
    assert parse_tag_selector(text) == expected


@pytest.mark.parametrize("text", ["env", "=prod"])
def test_tag_selector_without_a_key_and_equals_sign_is_rejected(text: str) -> None:
    with pytest.raises(ValueError, match="key=value"):
        parse_tag_selector(text)


# --- Execution names: duplicates collapse ----------------------------------------------------------------------


def test_execution_name_is_instance_and_launch_time() -> None:
    assert execution_name("i-1234567890abcdef0", LAUNCHED) == "i-1234567890abcdef0-20240501T123456Z"


def test_execution_name_is_the_same_whatever_the_timezone_of_the_launch_time() -> None:
    local = LAUNCHED.astimezone(timezone(timedelta(hours=-7)))
    assert execution_name("i-0abc", local) == execution_name("i-0abc", LAUNCHED)


def test_a_restart_gets_a_new_execution_name() -> None:
    later = LAUNCHED + timedelta(hours=3)
    assert execution_name("i-0abc", later) != execution_name("i-0abc", LAUNCHED)


@given(
    st.from_regex(r"i-[0-9a-f]{8}([0-9a-f]{9})?", fullmatch=True),
    st.datetimes(min_value=datetime(2006, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)),
)
def test_execution_names_satisfy_step_functions_naming_rules(instance_id: str, launched: datetime) -> None:
    name = execution_name(instance_id, launched)
    assert 1 <= len(name) <= 80
    assert re.fullmatch(r"[A-Za-z0-9_-]+", name)


def test_execution_input_names_the_instance_launch_and_trigger() -> None:
    assert execution_input(instance(), trigger="event", request_id="req-1") == {
        "InstanceId": "i-1234567890abcdef0",
        "LaunchTime": "2024-05-01T12:34:56Z",
        "Trigger": "event",
        "RequestId": "req-1",
    }


@pytest.mark.parametrize(
    ("requested", "expected"),
    [(None, 2700), (600, 600), (0, 0), ("600", 2700), (True, 2700), (-5, 2700), (10**9, 2700)],
)
def test_max_wait_comes_from_the_input_when_sane(requested: object, expected: int) -> None:
    assert effective_max_wait(requested, DEFAULT_MAX_WAIT_SECONDS) == expected


# --- Instance profile ------------------------------------------------------------------------------------------


def test_instance_without_a_profile_gets_ours() -> None:
    assert plan(None) == (ProfileAction.ASSOCIATE, ())


def test_a_disassociated_leftover_counts_as_no_profile() -> None:
    assert plan(associated(THEIRS, "disassociated")) == (ProfileAction.ASSOCIATE, ())


def test_instance_with_our_profile_needs_nothing() -> None:
    assert plan(associated(OURS)) == (ProfileAction.NONE, ())


def test_our_profile_still_associating_needs_nothing() -> None:
    assert plan(associated(OURS, "associating")) == (ProfileAction.NONE, ())


def test_an_association_being_removed_is_waited_for() -> None:
    assert plan(associated(THEIRS, "disassociating")) == (ProfileAction.WAIT, ())


def test_attach_mode_attaches_only_the_missing_policies() -> None:
    role = ExistingRole(THEIRS, "web-role", frozenset({CORE, "arn:aws:iam::aws:policy/ReadOnlyAccess"}))
    assert plan(associated(THEIRS), role) == (ProfileAction.ATTACH_POLICIES, (LOGGING,))


def test_attach_mode_attaches_both_policies_core_first() -> None:
    role = ExistingRole(THEIRS, "web-role", frozenset())
    assert plan(associated(THEIRS), role) == (ProfileAction.ATTACH_POLICIES, (CORE, LOGGING))


def test_report_mode_changes_nothing_and_reports_what_is_missing() -> None:
    role = ExistingRole(THEIRS, "web-role", frozenset({CORE}))
    assert plan(associated(THEIRS), role, ExistingRoleMode.REPORT) == (ProfileAction.REPORT, (LOGGING,))


@pytest.mark.parametrize("mode", list(ExistingRoleMode))
def test_an_existing_role_with_both_policies_is_compliant_in_either_mode(mode: ExistingRoleMode) -> None:
    role = ExistingRole(THEIRS, "web-role", frozenset(REQUIRED))
    assert plan(associated(THEIRS), role, mode) == (ProfileAction.NONE, ())


def test_a_deleted_or_empty_profile_is_replaced_in_attach_mode() -> None:
    assert plan(associated(THEIRS), ExistingRole(THEIRS, None)) == (ProfileAction.REPLACE, ())


def test_a_deleted_or_empty_profile_is_only_reported_in_report_mode() -> None:
    role = ExistingRole(THEIRS, None)
    assert plan(associated(THEIRS), role, ExistingRoleMode.REPORT) == (ProfileAction.REPORT, ())


def test_replace_and_attach_plans_carry_the_association_and_role() -> None:
    replace = plan_profile(
        associated(THEIRS),
        ExistingRole(THEIRS, None),
        our_profile_arn=OURS,
        required_policy_arns=REQUIRED,
        mode=ExistingRoleMode.ATTACH,
    )
    assert replace.association_id == "iip-assoc-0123456789abcdef0"
    attach = plan_profile(
        associated(THEIRS),
        ExistingRole(THEIRS, "web-role"),
        our_profile_arn=OURS,
        required_policy_arns=REQUIRED,
        mode=ExistingRoleMode.ATTACH,
    )
    assert attach.role_name == "web-role"


def test_the_active_association_wins_over_leftovers() -> None:
    old = ProfileAssociation("iip-assoc-old", THEIRS, "disassociated")
    new = ProfileAssociation("iip-assoc-new", OURS, "associated")
    assert current_association([old, new]) == new
    assert current_association([old]) is None
    assert current_association([]) is None


# --- Settings --------------------------------------------------------------------------------------------------


def test_settings_from_env() -> None:
    settings = EnrollmentSettings.from_env(
        {
            "ENROLLMENT_STATE_MACHINE_ARN": "arn:aws:states:us-east-1:123456789012:stateMachine:enroll",
            "INSTANCE_PROFILE_ARN": OURS,
            "LOGGING_POLICY_ARN": LOGGING,
            "EXISTING_ROLE_MODE": "Attach",
            "ENROLL_TAG_SELECTOR": "env=prod",
            "MAX_WAIT_SECONDS": "600",
            "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:alerts",
        }
    )
    assert settings.existing_role_mode is ExistingRoleMode.ATTACH
    assert settings.tag_selector == TagSelector("env", "prod")
    assert settings.default_max_wait_seconds == 600
    assert settings.required_policy_arns == (CORE, LOGGING)


def test_settings_default_to_report_mode_and_45_minutes() -> None:
    settings = EnrollmentSettings.from_env({})
    assert settings.existing_role_mode is ExistingRoleMode.REPORT
    assert settings.tag_selector is None
    assert settings.default_max_wait_seconds == 45 * 60


def test_ssm_core_policy_is_in_the_partition_of_the_logging_policy() -> None:
    settings = EnrollmentSettings(logging_policy_arn="arn:aws-cn:iam::123456789012:policy/sessionguard-logging")
    assert settings.ssm_core_policy_arn == "arn:aws-cn:iam::aws:policy/AmazonSSMManagedInstanceCore"


def test_an_unknown_existing_role_mode_is_rejected() -> None:
    with pytest.raises(ValueError, match="'fix'"):
        EnrollmentSettings.from_env({"EXISTING_ROLE_MODE": "fix"})


# --- Waiting for registration ----------------------------------------------------------------------------------


def agent(ping: str = "Online") -> AgentInfo:
    return AgentInfo("i-1234567890abcdef0", ping, "3.3.987.0", False)


def test_online_agent_is_registered() -> None:
    check = check_registration(agent(), waited_seconds=10, max_wait_seconds=2700)
    assert check.outcome is RegistrationOutcome.REGISTERED
    assert check.agent_version == "3.3.987.0"


def test_registration_at_the_last_check_still_counts() -> None:
    assert check_registration(agent(), waited_seconds=2700, max_wait_seconds=2700).outcome is (
        RegistrationOutcome.REGISTERED
    )


@pytest.mark.parametrize("found", [None, agent("ConnectionLost"), agent("Inactive")])
def test_unlisted_or_offline_agent_is_waited_for(found: AgentInfo | None) -> None:
    check = check_registration(found, waited_seconds=60, max_wait_seconds=2700)
    assert check.outcome is RegistrationOutcome.WAITING
    assert check.next_check_seconds >= 1


def test_wait_ends_at_max_wait() -> None:
    check = check_registration(None, waited_seconds=2700, max_wait_seconds=2700)
    assert check.outcome is RegistrationOutcome.TIMED_OUT


def test_checks_back_off_from_30_seconds_to_5_minutes() -> None:
    assert next_check_delay(0, 2700) == 30
    assert next_check_delay(600, 2700) == 150
    assert next_check_delay(1800, 2700) == MAX_CHECK_DELAY_SECONDS


@given(st.integers(0, 7 * 24 * 3600), st.integers(1, 7 * 24 * 3600))
def test_no_check_is_scheduled_past_the_deadline(waited: int, max_wait: int) -> None:
    if waited >= max_wait:
        return
    delay = next_check_delay(waited, max_wait)
    assert 1 <= delay <= MAX_CHECK_DELAY_SECONDS
    assert waited + delay <= max_wait


@given(st.integers(1, 24 * 3600))
def test_the_wait_loop_always_ends_in_a_bounded_number_of_checks(max_wait: int) -> None:
    waited, checks = 0, 0
    while check_registration(None, waited_seconds=waited, max_wait_seconds=max_wait).outcome is (
        RegistrationOutcome.WAITING
    ):
        waited += next_check_delay(waited, max_wait)
        checks += 1
        assert checks < 1000
    assert waited == max_wait


# --- Agent update ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "expected"),
    [
        ("Success", UpdateOutcome.SUCCEEDED),
        ("Failed", UpdateOutcome.FAILED),
        ("Cancelled", UpdateOutcome.FAILED),
        ("TimedOut", UpdateOutcome.FAILED),
        ("Pending", UpdateOutcome.RUNNING),
        ("InProgress", UpdateOutcome.RUNNING),
        ("Delayed", UpdateOutcome.RUNNING),
        (None, UpdateOutcome.RUNNING),
    ],
)
def test_agent_update_status(status: str | None, expected: UpdateOutcome) -> None:
    assert update_check(status).outcome is expected


def update_check(
    status: str | None,
    output: str = "",
    *,
    waited: int = 60,
    resends: int = 0,
    execution_seconds: int = 300,
    max_wait: int = DEFAULT_MAX_WAIT_SECONDS,
) -> UpdateCheck:
    invocation = None if status is None else AgentUpdateInvocation(status, output)
    return check_agent_update(
        invocation,
        waited_seconds=waited,
        resends=resends,
        execution_seconds=execution_seconds,
        max_wait_seconds=max_wait,
    )


def test_an_agent_update_that_never_finishes_times_out() -> None:
    assert update_check("InProgress", waited=30 * 60).outcome is UpdateOutcome.TIMED_OUT
    assert update_check("Success", waited=30 * 60).outcome is UpdateOutcome.SUCCEEDED


BUSY = "Another update in progress, try again later"


@pytest.mark.parametrize(
    "output",
    [BUSY, f"Updating amazon-ssm-agent\n{BUSY}\n", "\nERROR another UPDATE in progress, try again later"],
)
def test_an_update_refused_because_another_holds_the_agents_lock_is_sent_again(output: str) -> None:
    check = update_check("Failed", output)
    assert check.outcome is UpdateOutcome.BUSY
    assert check.next_send_seconds == AGENT_UPDATE_RESEND_DELAYS[0]


def test_an_update_that_failed_for_another_reason_is_not_sent_again() -> None:
    check = update_check("Failed", "failed to download manifest")
    assert (check.outcome, check.busy) == (UpdateOutcome.FAILED, False)


def test_a_busy_agent_is_sent_the_update_a_few_times_then_reported() -> None:
    delays = [update_check("Failed", BUSY, resends=n).next_send_seconds for n in range(len(AGENT_UPDATE_RESEND_DELAYS))]
    assert delays == list(AGENT_UPDATE_RESEND_DELAYS)
    last = update_check("Failed", BUSY, resends=len(AGENT_UPDATE_RESEND_DELAYS))
    assert (last.outcome, last.busy) == (UpdateOutcome.FAILED, True)


def test_a_busy_agent_is_not_sent_the_update_again_past_max_wait() -> None:
    late = update_check("Failed", BUSY, execution_seconds=2690, max_wait=2700)
    assert (late.outcome, late.busy) == (UpdateOutcome.FAILED, True)
    assert resend_delay(0, execution_seconds=2640, max_wait_seconds=2700) == 60


def test_every_send_of_the_agent_update_has_its_own_comment_within_ssms_limit() -> None:
    started = "2024-05-01T12:35:00.123Z"
    comments = {agent_update_comment(started, n) for n in range(len(AGENT_UPDATE_RESEND_DELAYS) + 1)}
    assert len(comments) == len(AGENT_UPDATE_RESEND_DELAYS) + 1
    assert agent_update_comment(started, 1) == agent_update_comment(started, 1)
    assert all(len(comment) <= 100 for comment in comments)  # SendCommand's Comment: at most 100 characters


@pytest.mark.parametrize(("age", "may_appear"), [(0, True), (65, True), (119, True), (120, False), (200, False)])
def test_an_instance_ec2_does_not_know_yet_is_retried_only_shortly_after_its_launch_event(
    age: int, may_appear: bool
) -> None:
    assert unseen_instance_may_appear(age) is may_appear


# --- Failures --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "reason", "retryable"),
    [
        ("LimitExceeded", FailureReason.ROLE_POLICY_LIMIT, False),
        ("IncorrectState", FailureReason.PROFILE_ASSOCIATION_PENDING, True),
        ("InvalidInstanceId", FailureReason.AGENT_NOT_READY, True),
        ("InvalidInstanceID.NotFound", FailureReason.INSTANCE_NOT_RUNNING, False),
        ("IncorrectInstanceState", FailureReason.INSTANCE_NOT_RUNNING, True),
        ("RequestLimitExceeded", FailureReason.THROTTLED, True),
        ("ThrottlingException", FailureReason.THROTTLED, True),
        ("Throttled", FailureReason.THROTTLED, True),  # sns:Publish
        ("KMSThrottling", FailureReason.THROTTLED, True),  # sns:Publish to a topic whose key is throttled
        ("ThrottledException", FailureReason.THROTTLED, True),
        ("InternalError", FailureReason.AWS_UNAVAILABLE, True),
        ("UnauthorizedOperation", FailureReason.ACCESS_DENIED, False),
        ("AccessDenied", FailureReason.ACCESS_DENIED, False),
        ("InvalidParameterValue", FailureReason.AWS_ERROR, False),
    ],
)
def test_aws_errors_are_classified(code: str, reason: FailureReason, retryable: bool) -> None:
    failure = classify_aws_error(code, "iam:AttachRolePolicy: message")
    assert (failure.reason, failure.retryable) == (reason, retryable)
    assert code in failure.detail


def test_error_for_picks_the_exception_class_step_functions_retries_on() -> None:
    assert isinstance(error_for(Failure(FailureReason.THROTTLED, True)), RetryableEnrollmentError)
    assert isinstance(error_for(Failure(FailureReason.ACCESS_DENIED, False)), FinalEnrollmentError)


def lambda_cause(error: Exception) -> str:
    """What Step Functions puts in Cause when a Lambda function raises."""
    return json.dumps({"errorMessage": str(error), "errorType": type(error).__name__, "stackTrace": []})


def test_our_errors_keep_their_reason_through_step_functions() -> None:
    error = error_for(Failure(FailureReason.ROLE_POLICY_LIMIT, False, "web-role has 10 policies"))
    failure = classify_step_error(type(error).__name__, lambda_cause(error))
    assert failure == Failure(FailureReason.ROLE_POLICY_LIMIT, False, "web-role has 10 policies")


def test_retryable_errors_that_ran_out_of_retries_keep_their_reason() -> None:
    error = error_for(Failure(FailureReason.AGENT_NOT_READY, True, "InvalidInstanceId"))
    assert classify_step_error(type(error).__name__, lambda_cause(error)).reason is FailureReason.AGENT_NOT_READY


def test_a_bug_is_an_internal_error() -> None:
    failure = classify_step_error("KeyError", lambda_cause(KeyError("InstanceId")))
    assert failure.reason is FailureReason.INTERNAL_ERROR
    assert "KeyError" in failure.detail


@pytest.mark.parametrize("error", ["Lambda.ServiceException", "States.Timeout", "Sandbox.Timedout"])
def test_lambda_service_errors_and_timeouts_are_aws_unavailable(error: str) -> None:
    assert classify_step_error(error, "not json").reason is FailureReason.AWS_UNAVAILABLE


def test_a_cause_with_an_unknown_reason_is_an_internal_error() -> None:
    cause = json.dumps({"errorMessage": "gremlins: in the wires"})
    assert classify_step_error("FinalEnrollmentError", cause).reason is FailureReason.INTERNAL_ERROR


def test_alert_details_are_bounded() -> None:
    failure = classify_step_error("KeyError", "x" * 5000)
    assert len(failure.detail) <= 500


def test_instance_gone_is_abandoned_not_failed() -> None:
    assert report_outcome(FailureReason.INSTANCE_NOT_RUNNING) is ReportOutcome.ABANDONED
    assert report_tags(FailureReason.INSTANCE_NOT_RUNNING) == {}


def test_report_mode_is_noncompliant() -> None:
    assert report_outcome(FailureReason.EXISTING_ROLE_NONCOMPLIANT) is ReportOutcome.NONCOMPLIANT
    assert report_tags(FailureReason.EXISTING_ROLE_NONCOMPLIANT) == {COMPLIANCE_TAG: "noncompliant"}


@pytest.mark.parametrize("reason", [FailureReason.REGISTRATION_TIMEOUT, FailureReason.ROLE_POLICY_LIMIT])
def test_other_failures_are_failed_and_tagged_with_their_reason(reason: FailureReason) -> None:
    assert report_outcome(reason) is ReportOutcome.FAILED
    assert report_tags(reason) == {FAILURE_TAG: str(reason)}


def test_a_failed_agent_update_is_tagged_as_such() -> None:
    assert report_tags(FailureReason.AGENT_UPDATE_FAILED) == {
        FAILURE_TAG: "agent_update_failed",
        AGENT_UPDATE_TAG: "failed",
    }


def test_alert_names_instance_reason_and_execution() -> None:
    alert = failure_notice(
        "i-0abc",
        Failure(FailureReason.REGISTRATION_TIMEOUT, False, "not registered after 2700 s"),
        "arn:aws:states:us-east-1:123456789012:execution:enroll:i-0abc-20240501T123456Z",
    )
    assert alert.subject == "SessionGuard: enrollment of i-0abc failed (registration_timeout)"
    assert alert.message["instance_id"] == "i-0abc"
    assert alert.message["reason"] == "registration_timeout"
    assert alert.message["execution"].endswith("i-0abc-20240501T123456Z")
    assert len(alert.subject) <= 100


def test_enrolled_tags_record_the_time_and_the_update_status() -> None:
    assert enrolled_tags(LAUNCHED, "Success") == {
        ENROLLED_TAG: "2024-05-01T12:34:56Z",
        AGENT_UPDATE_TAG: "success",
    }


def test_seconds_between_step_functions_timestamps() -> None:
    assert seconds_between("2024-05-01T12:00:00.123Z", "2024-05-01T12:45:00.999Z") == 2700
    assert seconds_between("2024-05-01T12:00:00Z", "2024-05-01T11:59:00Z") == 0
