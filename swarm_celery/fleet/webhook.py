"""The :class:`~swarm_celery.ports.Alerter` port: POST the healing ladder's alert as JSON to a webhook."""

from __future__ import annotations

from collections.abc import Mapping

import httpx


class WebhookAlerter:
    def __init__(self, url: str, timeout: float = 10.0) -> None:
        self.url = url
        self.timeout = timeout

    def alert(self, payload: Mapping[str, object]) -> str:
        """POST ``payload``; "" when the webhook took it (2xx), else why not."""
        try:
            response = httpx.post(self.url, json=dict(payload), timeout=self.timeout)
        except httpx.HTTPError as exc:
            return f"POST {self.url} failed: {exc or type(exc).__name__}"
        if response.is_success:
            return ""
        return f"POST {self.url} answered {response.status_code} {response.reason_phrase}"
