"""Alerts from the engine and the guardrails to the people who read them, and nothing lost on the way.

`formatting` builds the SNS and Slack messages, `noise` decides which alerts reach people, `delivery` sends each
one once and counts the outcome, `session_alerts` and `guardrail_alerts` are the two alert functions' runs, and
`replay` re-drives the failure queue. The AWS and HTTP calls themselves live in `sessionguard.adapters`.
"""
