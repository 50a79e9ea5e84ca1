"""Guardrails: the CloudTrail events that mean session logging is being gone around or tampered with.

What each guardrail watches, how one CloudTrail event is matched against them, and the alert it becomes. Pure:
the guardrail function's run (`sessionguard.alerting.guardrail_alerts`) delivers what this package decides.
"""
