"""Template properties of the alert pipeline (issue #4) and the enrollment pipeline (issue #5)."""

from __future__ import annotations

from typing import Any

from tests.infra.test_template import resources, statements_by_sid


def key_statements(cfn_template: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return statements_by_sid(cfn_template["Resources"]["SessionKey"]["Properties"]["KeyPolicy"])


def role_statements(cfn_template: dict[str, Any], role: str) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for policy in cfn_template["Resources"][role]["Properties"].get("Policies", []):
        found |= statements_by_sid(policy["PolicyDocument"])
    return found


# --- Alerts -----------------------------------------------------------------------------------------------------


def test_every_session_log_event_reaches_the_alert_function(cfn_template: dict[str, Any]) -> None:
    subscription = cfn_template["Resources"]["SessionAlertsFunctionSessionLogs"]
    assert subscription["Properties"]["LogGroupName"] == {"Ref": "SessionLogGroup"}
    assert subscription["Properties"]["FilterPattern"] == ""
    assert subscription["Properties"]["DestinationArn"] == {"Fn::GetAtt": ["SessionAlertsFunction", "Arn"]}


def test_failed_invocations_are_retried_then_parked_in_the_failure_queue(cfn_template: dict[str, Any]) -> None:
    config = cfn_template["Resources"]["SessionAlertsInvokeConfig"]["Properties"]
    assert config["FunctionName"] == {"Ref": "SessionAlertsFunction"}
    assert 0 < config["MaximumRetryAttempts"] <= 2
    assert config["MaximumEventAgeInSeconds"] <= 6 * 3600
    assert config["DestinationConfig"]["OnFailure"]["Destination"] == {"Fn::GetAtt": ["AlertFailureQueue", "Arn"]}


def test_failure_queue_table_topic_and_sanitized_group_are_encrypted_with_the_key(cfn_template: dict[str, Any]) -> None:
    res = cfn_template["Resources"]
    assert res["AlertFailureQueue"]["Properties"]["KmsMasterKeyId"] == {"Ref": "SessionKey"}
    assert res["AlertFailureQueue"]["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
    assert res["AlertTopic"]["Properties"]["KmsMasterKeyId"] == {"Ref": "SessionKey"}
    assert res["SanitizedLogGroup"]["Properties"]["KmsKeyId"] == {"Fn::GetAtt": ["SessionKey", "Arn"]}
    table = res["AlertStateTable"]["Properties"]
    assert table["BillingMode"] == "PAY_PER_REQUEST"
    assert table["TimeToLiveSpecification"]["Enabled"] is True
    assert table["SSESpecification"] == {
        "SSEEnabled": True,
        "SSEType": "KMS",
        "KMSMasterKeyId": {"Fn::GetAtt": ["SessionKey", "Arn"]},
    }
    assert table["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}


def test_alarms_watch_errors_throttles_and_the_failure_queue_and_notify_the_topic(cfn_template: dict[str, Any]) -> None:
    alarms = resources(cfn_template, "AWS::CloudWatch::Alarm")
    metrics = {a["Properties"]["MetricName"] for a in alarms.values()}
    assert {"Errors", "Throttles", "ApproximateNumberOfMessagesVisible"} <= metrics
    for alarm in alarms.values():
        assert {"Ref": "AlertTopic"} in alarm["Properties"]["AlarmActions"]


def test_key_use_by_the_alert_path_goes_through_its_services_only(cfn_template: dict[str, Any]) -> None:
    key = key_statements(cfn_template)
    for sid, service in [
        ("AccountUsesKeyThroughSnsOnly", "sns"),
        ("AccountUsesKeyThroughSqsOnly", "sqs"),
        ("AccountUsesKeyThroughDynamoDbOnly", "dynamodb"),
    ]:
        condition = key[sid]["Condition"]["StringEquals"]
        assert condition["kms:ViaService"] == {"Fn::Sub": f"{service}.${{AWS::Region}}.amazonaws.com"}
        assert condition["kms:CallerAccount"] == {"Ref": "AWS::AccountId"}
    alarms = key["CloudWatchAlarmsUseKeyForAlertTopic"]
    assert alarms["Principal"] == {"Service": "cloudwatch.amazonaws.com"}


def test_alert_function_writes_only_to_its_own_resources(cfn_template: dict[str, Any]) -> None:
    writes = []
    for statement in role_statements(cfn_template, "SessionAlertsFunctionRole").values():
        actions = statement["Action"] if isinstance(statement["Action"], list) else [statement["Action"]]
        if any(a.split(":")[1].startswith(("Put", "Publish", "Send", "Create")) for a in actions):
            writes.append(statement["Sid"])
            assert statement["Resource"] != "*", statement["Sid"]
    assert len(writes) >= 3  # SNS, SQS, DynamoDB, the sanitized log group


def test_alert_function_reads_back_only_the_session_groups_streams(cfn_template: dict[str, Any]) -> None:
    """Warm-up across deliveries reads a stream's preceding events: read-only, the session log group only."""
    statement = role_statements(cfn_template, "SessionAlertsFunctionRole")["ReadSessionStreamsForWarmUp"]
    assert statement["Action"] == "logs:GetLogEvents"
    assert statement["Resource"] == {
        "Fn::Sub": "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:${SessionLogGroup}"
        ":log-stream:*"
    }
    variables = cfn_template["Resources"]["SessionAlertsFunction"]["Properties"]["Environment"]["Variables"]
    assert variables["SANITIZED_LOG_RETENTION_DAYS"] == {"Ref": "SanitizedLogRetentionDays"}


# --- Enrollment -------------------------------------------------------------------------------------------------


def test_launch_events_for_running_instances_trigger_enrollment(cfn_template: dict[str, Any]) -> None:
    rule = cfn_template["Resources"]["EnrollTriggerFunctionInstanceRunning"]["Properties"]
    assert rule["EventPattern"] == {
        "source": ["aws.ec2"],
        "detail-type": ["EC2 Instance State-change Notification"],
        "detail": {"state": ["running"]},
    }


def test_pass_role_is_limited_to_the_instance_role_and_ec2(cfn_template: dict[str, Any]) -> None:
    passing = [
        s
        for role in resources(cfn_template, "AWS::IAM::Role")
        for s in role_statements(cfn_template, role).values()
        if "iam:PassRole" in (s["Action"] if isinstance(s["Action"], list) else [s["Action"]])
    ]
    to_ec2 = [s for s in passing if s.get("Condition", {}).get("StringEquals", {}).get("iam:PassedToService")]
    assert to_ec2
    for statement in to_ec2:
        assert statement["Resource"] == {"Fn::GetAtt": ["SessionInstanceRole", "Arn"]}
        assert statement["Condition"]["StringEquals"]["iam:PassedToService"] == "ec2.amazonaws.com"


def test_attach_role_policy_is_limited_to_the_two_session_policies(cfn_template: dict[str, Any]) -> None:
    prepare = cfn_template["Resources"]["EnrollPrepareFunctionRole"]["Properties"]["Policies"]
    conditional = [s["Fn::If"] for p in prepare for s in p["PolicyDocument"]["Statement"] if "Fn::If" in s]
    (attach,) = [c for c in conditional if c[1]["Sid"] == "AttachSessionPoliciesToExistingRoles"]
    assert attach[0] == "AttachToExistingRoles"  # only in ExistingRoleMode=attach
    assert attach[1]["Condition"]["ArnEquals"]["iam:PolicyARN"] == [
        {"Fn::Sub": "arn:${AWS::Partition}:iam::aws:policy/AmazonSSMManagedInstanceCore"},
        {"Ref": "SessionLoggingPolicy"},
    ]


def test_registration_wait_runs_in_a_standard_state_machine(cfn_template: dict[str, Any]) -> None:
    machine = cfn_template["Resources"]["EnrollmentStateMachine"]["Properties"]
    assert machine["StateMachineType"] == "STANDARD"
    assert machine["RoleArn"] == {"Fn::GetAtt": ["EnrollmentStateMachineRole", "Arn"]}


def test_agent_freshness_association_runs_aws_update_ssm_agent_on_its_schedule(cfn_template: dict[str, Any]) -> None:
    # Which instances it targets: test_template_least_privilege.py.
    association = cfn_template["Resources"]["AgentUpdateAssociation"]["Properties"]
    assert association["Name"] == "AWS-UpdateSSMAgent"
    assert association["ScheduleExpression"] == {"Ref": "AgentUpdateSchedule"}


def test_failed_enrollment_executions_raise_an_alarm_on_the_alert_topic(cfn_template: dict[str, Any]) -> None:
    """An execution whose report could not be sent (ReportFailed) tells nobody else."""
    alarm = cfn_template["Resources"]["EnrollmentExecutionsFailedAlarm"]["Properties"]
    assert (alarm["Namespace"], alarm["MetricName"]) == ("AWS/States", "ExecutionsFailed")
    assert alarm["Dimensions"] == [{"Name": "StateMachineArn", "Value": {"Ref": "EnrollmentStateMachine"}}]
    assert (alarm["Statistic"], alarm["Threshold"], alarm["ComparisonOperator"]) == (
        "Sum",
        0,
        "GreaterThanThreshold",
    )
    assert alarm["AlarmActions"] == alarm["OKActions"] == [{"Ref": "AlertTopic"}]


def test_a_retried_agent_update_step_may_look_for_the_command_it_already_sent(cfn_template: dict[str, Any]) -> None:
    found = role_statements(cfn_template, "EnrollSendAgentUpdateFunctionRole")["FindAgentUpdatesAlreadySent"]
    assert found["Action"] == "ssm:ListCommands"  # read-only, and AWS offers no resource-level permission for it


def test_launch_events_of_instances_ec2_does_not_list_yet_are_retried_twice(cfn_template: dict[str, Any]) -> None:
    (config,) = [
        r["Properties"]
        for r in resources(cfn_template, "AWS::Lambda::EventInvokeConfig").values()
        if r["Properties"]["FunctionName"] == {"Ref": "EnrollTriggerFunction"}
    ]
    assert config["MaximumRetryAttempts"] == 2
