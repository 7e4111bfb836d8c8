"""What `build-swarm drone --check` asks over the network before a drone starts.

Is the broker there, and does it take the password in ``SWARM_BROKER_URL``? Does ``SWARM_COORDINATOR_URL`` answer as a
build-swarm coordinator (``GET /health``)? Does it know this drone's token (``GET /api/v1/drones/NAME/token``)? Each
answer is a :class:`~swarm_celery.domain.audit.Check`, PASS, WARN or FAIL, whose message says what to fix.
"""

from __future__ import annotations

from urllib.parse import quote, urlsplit

import httpx
import redis

from swarm_celery.domain.audit import Check, Status
from swarm_celery.domain.urls import without_password

TIMEOUT = 5.0


def broker_check(url: str, timeout: float = TIMEOUT) -> Check:
    """Connect to the broker and, for Redis, PING it with the URL's password."""
    shown = without_password(url)
    if not url:
        return Check("broker", Status.FAIL, "SWARM_BROKER_URL is not set: put the coordinator's broker URL in drone.conf")
    if not url.startswith(("redis://", "rediss://")):
        return Check("broker", Status.WARN, f"{shown}: not checked (only redis:// and rediss:// brokers are)")
    try:
        redis.Redis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout).ping()
    except (redis.RedisError, OSError) as exc:
        return Check("broker", Status.FAIL, _redis_problem(shown, exc, with_password=urlsplit(url).password is not None))
    return Check("broker", Status.PASS, f"{shown} answers")


def _redis_problem(shown: str, exc: Exception, with_password: bool) -> str:
    if isinstance(exc, redis.AuthenticationError) or "NOAUTH" in str(exc):
        if not with_password:
            return f"{shown} needs a password: SWARM_BROKER_URL=redis://:PASSWORD@host:port/db"
        return f"{shown} refused the password: copy SWARM_BROKER_URL from the coordinator's settings"
    if isinstance(exc, redis.ResponseError):
        return f"{shown} answered {exc}: is that port a Redis server?"
    return f"cannot reach {shown} ({exc}): is Redis running there, and the host and port in SWARM_BROKER_URL right?"


def coordinator_checks(url: str, token: str, name: str, version: str, timeout: float = TIMEOUT) -> list[Check]:
    """The coordinator API answers, runs the version this drone runs (else a WARN), and knows ``token`` as ``name``'s."""
    if not url:
        return [Check("coordinator", Status.WARN, "SWARM_COORDINATOR_URL is not set: artifacts go to the staging directory "
                                                  "the coordinator reads, which works on the coordinator's host only")]
    base = url.rstrip("/")
    with httpx.Client(timeout=timeout) as client:
        found = _health(client, base)
        if found.status == Status.FAIL:
            return [found]
        return [_same_version(found, version), _token(client, base, token, name)]


def _health(client: httpx.Client, base: str) -> Check:
    try:
        response = client.get(f"{base}/health")
    except httpx.HTTPError as exc:
        return Check("coordinator", Status.FAIL, f"cannot reach {base} ({type(exc).__name__}: {exc}): is `build-swarm coordinator` "
                                                 "running there, and SWARM_COORDINATOR_URL right?")
    try:
        body = response.json()
        version = str(body["version"])
    except (ValueError, KeyError, TypeError):
        return Check("coordinator", Status.FAIL, f"{base}/health answered HTTP {response.status_code} without a build-swarm "
                                                 "health report: SWARM_COORDINATOR_URL names something else")
    if response.status_code != 200:
        return Check("coordinator", Status.FAIL, f"{base} answers but its record does not ({body.get('database', '?')}): see the "
                                                 "coordinator's log")
    return Check("coordinator", Status.PASS, version)


def _same_version(found: Check, version: str) -> Check:
    if found.message != version:
        return Check("coordinator", Status.WARN, f"answers, running build-swarm {found.message}; this drone runs {version} "
                                                 "(`build-swarm drone deploy` on the coordinator upgrades drones)")
    return Check("coordinator", Status.PASS, f"answers, running build-swarm {version} like this drone")


def _token(client: httpx.Client, base: str, token: str, name: str) -> Check:
    if not token:
        return Check("token", Status.FAIL, f"SWARM_DRONE_TOKEN is not set: run `build-swarm token issue {name}` on the coordinator")
    try:
        response = client.get(f"{base}/api/v1/drones/{quote(name, safe='')}/token", headers={"Authorization": f"Bearer {token}"})
    except httpx.HTTPError as exc:
        return Check("token", Status.FAIL, f"cannot ask {base} about the token ({type(exc).__name__}: {exc})")
    if response.status_code == 200:
        return Check("token", Status.PASS, f"the coordinator knows it as {name}'s")
    if response.status_code == 403:
        return Check("token", Status.FAIL, f"{_said(response)}: use {name}'s own token (`build-swarm token issue {name}`)")
    if response.status_code == 401:
        return Check("token", Status.FAIL, f"the coordinator does not know SWARM_DRONE_TOKEN: run `build-swarm token issue {name}` "
                                           "there and put the line it prints in drone.conf")
    return Check("token", Status.FAIL, f"{base} answered HTTP {response.status_code} ({_said(response)}) about the token")


def _said(response: httpx.Response) -> str:
    try:
        body = response.json()
    except ValueError:
        return response.text[:200]
    return str(body.get("error", body))[:200] if isinstance(body, dict) else str(body)[:200]
