"""Secrets Manager: the Slack webhook URL, read through Powertools Parameters (cached, never logged)."""

from __future__ import annotations

import json
from typing import Final

SECRET_MAX_AGE_SECONDS: Final = 300


def read_slack_webhook_url(secret_arn: str) -> str:
    """The webhook URL kept in Secrets Manager: the secret string itself, or a JSON object's `url` /
    `webhook_url`. Cached by Powertools Parameters for SECRET_MAX_AGE_SECONDS, so a rotated URL is picked up
    within minutes without a call per alert. Never logged."""
    # Imported on the first Slack delivery, not at a cold start: most deliveries raise no alert.
    from aws_lambda_powertools.utilities import parameters  # noqa: PLC0415

    value = parameters.get_secret(secret_arn, max_age=SECRET_MAX_AGE_SECONDS)
    text = value.decode() if isinstance(value, bytes) else str(value)
    text = text.strip()
    if text.startswith("{"):
        try:
            document = json.loads(text)
        except ValueError:
            return ""
        url = document.get("url") or document.get("webhook_url") if isinstance(document, dict) else None
        return url.strip() if isinstance(url, str) else ""
    return text
