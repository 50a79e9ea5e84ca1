"""The search a retry makes for its batch's delivery records (adapters.logs.CloudWatchTranscriptSearch), against
botocore's Stubber: requests and answers are checked against the CloudWatch Logs service model."""

from __future__ import annotations

import boto3
from botocore.stub import Stubber
from sessionguard.adapters.logs import CloudWatchTranscriptSearch

GROUP, STREAM = "/aws/ssm/sessionguard/sanitized", "jane.roe-0a1b2c3d4e5f60718"
BATCH = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def test_the_search_reads_every_page_so_a_later_record_of_the_batch_is_not_missed() -> None:
    # Given an attempt that failed (its record says incomplete) and a retry that completed, whose records
    # FilterLogEvents answers on two pages, an empty page between them
    client = boto3.client("logs", region_name="us-east-1")
    request = {"logGroupName": GROUP, "logStreamNames": [STREAM], "startTime": 1, "filterPattern": f'"{BATCH}"'}
    failed = '{"kind": "delivery", "batch": "' + BATCH + '", "complete": false}'
    completed = '{"kind": "delivery", "batch": "' + BATCH + '", "complete": true}'
    with Stubber(client) as stub:
        stub.add_response("filter_log_events", {"events": [{"message": failed}], "nextToken": "a"}, request)
        stub.add_response("filter_log_events", {"events": [], "nextToken": "b"}, {**request, "nextToken": "a"})
        stub.add_response("filter_log_events", {"events": [{"message": completed}]}, {**request, "nextToken": "b"})
        # When the retry looks for them
        found = CloudWatchTranscriptSearch(client).messages_naming(GROUP, STREAM, BATCH, 1)
        # Then it sees both
        assert found == [failed, completed]
        stub.assert_no_pending_responses()
