"""The retro-hunt at organisation scale: statemachines/hunt.asl.json checked for its shape and AWS's limits, the
batch function run against moto S3 with the real-format transcripts of events/, and the whole map run on moto's
Step Functions interpreter (LocalStack's, `execute_state_machine`) with its Lambda invocations routed to the
handlers in this process.

moto 5.2's interpreter does not know ItemBatcher, so the local run uses the definition with the batcher replaced by
an ItemSelector that builds the same batch input around one object (`local_definition`); docs/hunt.md lists this
and the other differences from AWS.
"""

from __future__ import annotations

import gzip
import io
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws
from moto.awslambda_simple.models import LambdaSimpleBackend
from sessionguard.adapters.archive import S3Archive
from sessionguard.archive.hunt import HuntInputError, HuntSettings, batch_id, hunt_input, run_batch
from sessionguard.cli import main

from tests.support import FakeLambdaContext, load_function

REPO = Path(__file__).resolve().parents[2]
EVENTS = REPO / "events"
DEFINITION = json.loads((REPO / "statemachines" / "hunt.asl.json").read_text())
BUCKET = "transcripts-111122223333"
RESULTS = "hunt-results-111122223333"
RISKY_SECRETS = ("Hunter2-Prod!", "wJalrXUtnFEMI/K7MDENG/bPxRfiCYzEXAMPLEKEY")
ROLE = "arn:aws:iam::123456789012:role/hunt"
FUNCTIONS = {
    "HuntBatchFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hunt-batch",
    "HuntSummaryFunctionArn": "arn:aws:lambda:us-east-1:123456789012:function:hunt-summary",
}

ACME_RULE: dict[str, Any] = {
    "id": "ACME-001",
    "title": "uptime asked",
    "severity": "high",
    "techniques": ["T1082"],
    "description": "A custom rule shipped with the hunt.",
    "match": {"segment": ["^uptime(\\s|$)"]},
    "examples": {"match": ["uptime", "uptime -p"], "no_match": ["echo uptime", "man uptime"]},
}


def states(definition: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    for name, state in definition["States"].items():
        yield name, state
        if "ItemProcessor" in state:
            yield from states(state["ItemProcessor"])


# --- the definition -------------------------------------------------------------------------------------------------


def test_the_definition_is_a_distributed_map_over_the_bucket_within_aws_limits() -> None:
    scan = DEFINITION["States"][DEFINITION["StartAt"]]
    assert scan["Type"] == "Map"
    assert scan["ItemProcessor"]["ProcessorConfig"] == {"Mode": "DISTRIBUTED", "ExecutionType": "STANDARD"}
    assert scan["ItemReader"]["Resource"] == "arn:aws:states:::s3:listObjectsV2"
    assert set(scan["ItemReader"]["Parameters"]) == {"Bucket.$", "Prefix.$"}
    # A batch's input is at most 256 KiB (the Map's limit); concurrency comes from the input, bounded below.
    assert scan["ItemBatcher"]["MaxInputBytesPerBatch"] <= 256 * 1024
    assert scan["ItemBatcher"]["MaxItemsPerBatchPath"] == "$.BatchSize"
    assert scan["MaxConcurrencyPath"] == "$.MaxConcurrency"
    assert 0 <= scan["ToleratedFailurePercentage"] <= 100
    assert scan["ResultWriter"]["Resource"] == "arn:aws:states:::s3:putObject"
    # The batch input is exactly what the batch function checks, field for field.
    batch_input = {key.removesuffix(".$") for key in scan["ItemBatcher"]["BatchInput"]}
    assert batch_input == set(hunt_input(hunt="h", bucket="b", prefix="", results_bucket="r")["Settings"])
    HuntSettings.from_input(hunt_input(hunt="h", bucket="b", prefix="", results_bucket="r")["Settings"])


def test_every_task_retries_lambda_errors_and_every_transition_leads_somewhere() -> None:
    all_states = dict(states(DEFINITION))
    for name, state in all_states.items():
        for target in [state.get("Next"), *(c["Next"] for c in state.get("Catch", []))]:
            assert target is None or target in all_states, (name, target)
        assert state.get("End") or state.get("Next") or state["Type"] in {"Fail", "Succeed"}, name
        if state.get("Resource") == "arn:aws:states:::lambda:invoke":
            retried = {error for retry in state["Retry"] for error in retry["ErrorEquals"]}
            assert {"Lambda.ServiceException", "Lambda.TooManyRequestsException"} <= retried, name
            assert state.get("TimeoutSeconds", 900) <= 900, name  # a Lambda runs 15 minutes at most
    # The hunt always ends with an SNS message: finished, or failed to summarize.
    published = [name for name, state in all_states.items() if state.get("Resource") == "arn:aws:states:::sns:publish"]
    assert sorted(published) == ["NotifyHuntEnded", "NotifyHuntFailed"]
    assert all_states["Summarize"]["Catch"][0]["Next"] == "NotifyHuntFailed"
    # A failed map (too many failed batches) is still summarized, with its error.
    assert all_states["ScanTranscripts"]["Catch"][0] == {
        "ErrorEquals": ["States.ALL"], "ResultPath": "$.MapResult", "Next": "Summarize"
    }  # fmt: skip
    placeholders = set(re.findall(r"\$\{(\w+)\}", json.dumps(DEFINITION)))
    assert placeholders == {*FUNCTIONS, "HuntResultsBucket", "HuntResultsPrefix", "HuntTopicArn"}


def test_hunt_input_checks_what_the_batches_check() -> None:
    with pytest.raises(HuntInputError, match="Hunt"):
        hunt_input(hunt="../other-hunt", bucket="b", prefix="", results_bucket="r")
    with pytest.raises(ValueError, match="neither an age"):
        hunt_input(hunt="h", bucket="b", prefix="", results_bucket="r", since="last tuesday")
    with pytest.raises(HuntInputError, match="BatchInput"):
        run_batch({"Items": []}, S3Archive(client=None))


# --- the batch function against S3 ----------------------------------------------------------------------------------


@pytest.fixture
def buckets() -> Iterator[Any]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}, "lambda": {"use_docker": False}}):
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=BUCKET)
        s3.create_bucket(Bucket=RESULTS)
        uploads = {
            "sessions/jane.roe-0b7e9d1c4a2f8e6d5.log": (
                EVENTS / "transcript-jane.roe-0b7e9d1c4a2f8e6d5.log"
            ).read_bytes(),
            "sessions/john.doe-0c9d8e7f6a5b4c3d2.jsonl.gz": gzip.compress(
                (EVENTS / "session-risky.jsonl").read_bytes()
            ),
            "sessions/admin-0d4e5f6a7b8c9d0e1.log": (EVENTS / "windows-transcript-s3.log").read_bytes(),
            "sessions/broken.log.gz": b"\x1f\x8b\x08\x00 truncated",
        }
        for key, body in uploads.items():
            s3.put_object(Bucket=BUCKET, Key=key, Body=body)
        yield s3


def listed_items(s3: Any) -> list[dict[str, Any]]:
    """The objects as the ItemReader hands them to a batch (ListObjectsV2 Contents, dates as strings)."""
    contents = s3.list_objects_v2(Bucket=BUCKET, Prefix="sessions/")["Contents"]
    return [
        {"Key": c["Key"], "Size": c["Size"], "Etag": c["ETag"], "LastModified": c["LastModified"].isoformat()}
        for c in contents
    ]


def settings(**more: str) -> dict[str, Any]:
    execution_input = hunt_input(hunt="hunt-1", bucket=BUCKET, prefix="sessions/", results_bucket=RESULTS, **more)  # type: ignore[arg-type]
    batch_input: dict[str, Any] = execution_input["Settings"]
    return batch_input


def results(s3: Any, hunt: str = "hunt-1") -> dict[str, bytes]:
    listing = s3.list_objects_v2(Bucket=RESULTS, Prefix=f"hunts/{hunt}/").get("Contents", [])
    return {c["Key"]: s3.get_object(Bucket=RESULTS, Key=c["Key"])["Body"].read() for c in listing}


def test_a_batch_writes_masked_alerts_and_its_counts(buckets: Any) -> None:
    items = listed_items(buckets)
    handler = load_function("hunt_batch")

    counts = handler.batch_handler(
        {"Items": items, "BatchInput": settings()},
        FakeLambdaContext("hunt-batch", FUNCTIONS["HuntBatchFunctionArn"], "r1"),
    )

    assert counts["objects"] == 4
    assert counts["unreadable"] == 1
    assert counts["alerts"] >= 4
    assert counts["sessions"] == 3
    batch = batch_id([item["Key"] for item in items])
    written = results(buckets)
    assert set(written) == {f"hunts/hunt-1/batches/{batch}.alerts.jsonl", f"hunts/hunt-1/batches/{batch}.json"}
    alerts = [json.loads(line) for line in written[f"hunts/hunt-1/batches/{batch}.alerts.jsonl"].splitlines()]
    assert {"SG-DLEX-001", "SG-CRED-001"} <= {a["rule_id"] for a in alerts}
    assert any(a["session_id"] == "admin-0d4e5f6a7b8c9d0e1" and a["rule_id"].startswith("SG-WIN-") for a in alerts)
    assert all(a["object"].startswith("sessions/") for a in alerts)
    assert not any(secret in json.dumps(alerts) for secret in RISKY_SECRETS)
    summary = json.loads(written[f"hunts/hunt-1/batches/{batch}.json"])
    assert summary["unreadable"] == [{"object": "sessions/broken.log.gz", "reason": "the file is truncated gzip data"}]

    # A retried batch writes the same two objects again, not a second copy.
    run_batch({"Items": items, "BatchInput": settings()}, S3Archive(buckets))
    assert set(results(buckets)) == set(written)


def test_a_batch_applies_the_date_range(buckets: Any) -> None:
    counts = run_batch(
        {"Items": listed_items(buckets), "BatchInput": settings(since="2020-01-01", until="2020-02-01")},
        S3Archive(buckets),
    )

    assert counts["objects"] == 0
    assert counts["skipped_by_date"] == 4


def test_archived_transcripts_are_counted_not_read(buckets: Any) -> None:
    items = listed_items(buckets)
    items[0]["StorageClass"] = "GLACIER"  # as the ItemReader lists an object the lifecycle rule archived

    counts = run_batch({"Items": items, "BatchInput": settings()}, S3Archive(buckets))

    assert counts["archived"] == 1
    assert counts["objects"] == 3


def test_extra_rules_from_the_results_bucket_are_used(buckets: Any) -> None:
    buckets.put_object(Bucket=RESULTS, Key="hunts/hunt-1/rules.yaml", Body=json.dumps({"rules": [ACME_RULE]}).encode())

    counts = run_batch(
        {"Items": listed_items(buckets), "BatchInput": settings() | {"RulesKey": "hunts/hunt-1/rules.yaml"}},
        S3Archive(buckets),
    )

    assert counts["alerts_per_rule"].get("ACME-001") == 1


# --- the whole map on moto's interpreter ----------------------------------------------------------------------------


def local_definition() -> str:
    """The definition moto's interpreter can run: ItemBatcher (unknown to it) becomes an ItemSelector that builds
    the same {Items, BatchInput} around one object; ToleratedFailurePercentage is written as a float, the only
    number its grammar takes there."""
    definition = json.loads(json.dumps(DEFINITION))
    scan = definition["States"]["ScanTranscripts"]
    batcher = scan.pop("ItemBatcher")
    scan["ItemSelector"] = {"Items.$": "States.Array($$.Map.Item.Value)", "BatchInput": batcher["BatchInput"]}
    scan["ToleratedFailurePercentage"] = float(scan["ToleratedFailurePercentage"])
    text = json.dumps(definition)
    for name, value in {**FUNCTIONS, "HuntResultsBucket": RESULTS, "HuntResultsPrefix": "hunts/"}.items():
        text = text.replace("${" + name + "}", value)
    return text


@pytest.fixture
def lambdas_in_process(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """moto's Lambda without Docker answers every invoke with its payload; here the hunt's two functions answer
    with their handlers, a raised exception becoming a function error as Lambda reports it."""
    handler = load_function("hunt_batch")
    routes = {
        FUNCTIONS["HuntBatchFunctionArn"]: handler.batch_handler,
        FUNCTIONS["HuntSummaryFunctionArn"]: handler.summary_handler,
    }
    invoked: list[str] = []

    def invoke(  # noqa: PLR0917 - moto's signature
        self: Any, function_name: str, qualifier: str | None, body: Any, headers: Any, response_headers: Any
    ) -> bytes:
        invoked.append(function_name)
        context = FakeLambdaContext(function_name.rsplit(":", 1)[-1], function_name, f"request-{len(invoked)}")
        try:
            return json.dumps(routes[function_name](json.loads(body), context)).encode()
        except Exception as error:
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(error).__name__, "errorMessage": str(error)}).encode()

    monkeypatch.setattr(LambdaSimpleBackend, "invoke", invoke)
    return invoked


def run_hunt(definition: str, execution_input: dict[str, Any]) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """Start the hunt, wait for its end; its description and the SNS messages it published."""
    sns, sqs = boto3.client("sns"), boto3.client("sqs")
    topic = sns.create_topic(Name="hunt")["TopicArn"]
    queue = sqs.create_queue(QueueName="hunt-messages")["QueueUrl"]
    queue_arn = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    sns.subscribe(TopicArn=topic, Protocol="sqs", Endpoint=queue_arn, Attributes={"RawMessageDelivery": "true"})
    sfn = boto3.client("stepfunctions")
    machine = sfn.create_state_machine(
        name="hunt", definition=definition.replace("${HuntTopicArn}", topic), roleArn=ROLE
    )
    execution = sfn.start_execution(stateMachineArn=machine["stateMachineArn"], input=json.dumps(execution_input))
    deadline = time.monotonic() + 60
    while (described := sfn.describe_execution(executionArn=execution["executionArn"]))["status"] == "RUNNING":
        assert time.monotonic() < deadline, "the hunt did not end"
        time.sleep(0.2)
    messages = sqs.receive_message(QueueUrl=queue, MaxNumberOfMessages=10).get("Messages", [])
    return dict(described), [{"body": m["Body"]} for m in messages]


def test_the_whole_hunt_runs_on_a_small_bucket(buckets: Any, lambdas_in_process: list[str]) -> None:
    execution_input = hunt_input(
        hunt="hunt-1",
        bucket=BUCKET,
        prefix="sessions/",
        results_bucket=RESULTS,
        since="30d",
        max_concurrency=2,
        batch_size=2,
    )

    described, messages = run_hunt(local_definition(), execution_input)

    assert described["status"] == "SUCCEEDED", described
    assert lambdas_in_process.count(FUNCTIONS["HuntBatchFunctionArn"]) == 4  # one object per batch, locally
    assert lambdas_in_process.count(FUNCTIONS["HuntSummaryFunctionArn"]) == 1
    summary = json.loads(results(buckets)["hunts/hunt-1/summary.json"])
    assert summary["objects"] == 4
    assert summary["sessions"] == 3
    assert summary["batches"] == 4
    assert summary["alerts"] == sum(summary["alerts_per_rule"].values()) >= 4
    assert summary["failures"] == {"unreadable_objects": 1, "failed_batches": 0, "map_error": None}
    assert summary["results"] == f"s3://{RESULTS}/hunts/hunt-1/"
    # The SNS message is the summary: counts, no session text.
    assert len(messages) == 1
    assert json.loads(messages[0]["body"]) == summary
    everything = json.dumps(results(buckets), default=lambda b: b.decode())
    assert not any(secret in everything for secret in RISKY_SECRETS)


def test_a_hunt_whose_summary_fails_says_so(buckets: Any, lambdas_in_process: list[str]) -> None:
    execution_input = hunt_input(hunt="hunt-2", bucket=BUCKET, prefix="sessions/", results_bucket=RESULTS)
    execution_input["Settings"]["ResultsBucket"] = "no-such-bucket-anywhere"  # every write fails

    described, messages = run_hunt(local_definition(), execution_input)

    assert described["status"] == "FAILED"
    assert described.get("error") == "HuntSummaryFailed"
    assert len(messages) == 1
    assert messages[0]["body"].startswith(
        "Hunt hunt-2 under s3://transcripts-111122223333/sessions/ failed to summarize"
    )


# --- sessionguard hunt ----------------------------------------------------------------------------------------------


def test_sessionguard_hunt_uploads_the_rules_and_starts_one_execution(tmp_path: Path) -> None:
    rules = tmp_path / "acme.yaml"
    rules.write_text(json.dumps({"rules": [ACME_RULE]}))
    with mock_aws():  # moto's plain Step Functions: the real definition is stored, not run
        s3 = boto3.client("s3")
        s3.create_bucket(Bucket=RESULTS)
        sfn = boto3.client("stepfunctions")
        machine = sfn.create_state_machine(name="hunt", definition=json.dumps(DEFINITION), roleArn=ROLE)[
            "stateMachineArn"
        ]
        out, err = io.StringIO(), io.StringIO()
        argv = ["hunt", "--state-machine", machine, "--bucket", BUCKET, "--results-bucket", RESULTS]
        argv += ["--rules", str(rules), "--since", "2026-09-01", "--name", "new-rule-90d", "--max-concurrency", "10"]

        status = main(argv, stdout=out, stderr=err)

        assert status == 0, err.getvalue()
        started = json.loads(out.getvalue())
        assert started["results"] == f"s3://{RESULTS}/hunts/new-rule-90d/"
        execution = sfn.describe_execution(executionArn=started["execution"])
        assert execution["name"] == "new-rule-90d"
        assert json.loads(execution["input"]) == {
            "Prefix": "sessions/",
            "MaxConcurrency": 10,
            "BatchSize": 100,
            "Settings": {
                "Hunt": "new-rule-90d", "Bucket": BUCKET, "ResultsBucket": RESULTS, "ResultsPrefix": "hunts/",
                "MinSeverity": "low", "RulesKey": "hunts/new-rule-90d/rules.yaml", "Since": "2026-09-01T00:00:00+00:00",
                "Until": "",
            },
        }  # fmt: skip
        uploaded = s3.get_object(Bucket=RESULTS, Key="hunts/new-rule-90d/rules.yaml")["Body"].read()
        assert uploaded == rules.read_bytes()

        assert main([*argv[:7], "--name", "../x"], stdout=io.StringIO(), stderr=io.StringIO()) == 1
