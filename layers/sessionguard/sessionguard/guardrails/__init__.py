"""Guardrails: the CloudTrail events that mean session logging is being gone around or tampered with.

`guardrails.yaml` is the data, one entry per guardrail shaped like a detection rule; `catalog` reads it strictly,
`predicates` is the registry its conditions name, `model` holds the guardrail, the stack's protected resources and
the alert one raises, `matching` turns one CloudTrail event into alerts and gives the EventBridge patterns, and
`markdown` generates docs/guardrails.md's table. Pure: the guardrail function's run
(`sessionguard.alerting.guardrail_alerts`) delivers what this package decides.
"""
