"""Alerts from the engine and the guardrails to the people who read them, and nothing lost on the way.

`text` makes text printable, sendable and bounded; `formatting` builds the SNS and Slack messages of a command
alert and `guardrail_messages` those of a guardrail alert; `noise` decides which guardrail alerts reach people, and
`claims` (the write) with `batch_claims` (a delivery's claim, sends and retries) which command alerts do; `delivery`
sends each once and counts the outcome (`http` reads the webhook's answers);
`log_events` cuts the sanitized transcript into PutLogEvents calls; `session_alerts` and `guardrail_alerts` are the
two alert functions' invocations, `ledger_alerts` the session ledger function's (`ledger_stream` is the subscription
function's part of the ledger, `ledger_messages` its messages); `parking` is what they park in the failure queue
and `replay` re-drives it. The
AWS and HTTP calls themselves live in `sessionguard.adapters`.
"""
