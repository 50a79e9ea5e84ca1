"""The only modules that do I/O: one per service, each turning its calls into plain data and back.

`sns` (alerts), `sqs` (the failure queues), `logs` (the sanitized transcript, a session's history, replay),
`dynamodb` (noise state and the delivery ledger), `secrets` (the Slack webhook URL), `slack` (the webhook POST),
`awslambda` (replay's invoke), `fleet` (EC2, IAM, SSM, SNS and Step Functions for enrollment), `ssm_documents`
(the preferences document), `cloudformation` (the custom resource response PUT) and `session_ledger` (the session
ledger table, DescribeSessions, transcript reads); `aws` holds what they share (the botocore session their
clients are made from, `aws_client`). Nothing else in the
package imports boto3, botocore, urllib.request or Powertools Idempotency: ruff's banned-api rule (TID251,
pyproject.toml) fails `make lint` if it does. Everything above these modules takes and
returns plain data, and the Protocols here let tests put in-memory fakes behind the same calls.
"""
