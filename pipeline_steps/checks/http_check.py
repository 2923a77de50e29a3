"""One attempt of an HTTP check: request, then every assertion, with a precise reason when one fails."""

from __future__ import annotations

import json
import re
from typing import Any

import requests

from pipeline_steps.checks.spec import HttpCheckSpec

_MISSING = object()


def target_url(spec: HttpCheckSpec, base_url: str | None) -> str | None:
    if spec.url:
        return spec.url.replace("{base_url}", base_url or "")
    if base_url is None:
        return None
    return base_url.rstrip("/") + "/" + spec.path.lstrip("/")


def _field(data: Any, path: str) -> Any:
    for part in path.split("."):
        if isinstance(data, dict) and part in data:
            data = data[part]
        elif isinstance(data, list) and part.isdigit() and int(part) < len(data):
            data = data[int(part)]
        else:
            return _MISSING
    return data


def attempt_http(spec: HttpCheckSpec, url: str, session: requests.Session) -> tuple[bool, str]:
    """(passed, what was seen or why it failed)."""
    try:
        response = session.request(
            spec.method, url, headers=dict(spec.headers), data=spec.body, timeout=spec.attempts.timeout_s,
            allow_redirects=False,
        )  # fmt: skip
    except requests.Timeout:
        return False, f"{spec.method} {url}: timed out after {spec.attempts.timeout_s:g}s"
    except requests.ConnectionError as exc:
        reason = "connection refused" if "refused" in str(exc).lower() else f"cannot connect: {exc}"
        return False, f"{spec.method} {url}: {reason}"
    except requests.RequestException as exc:
        return False, f"{spec.method} {url}: {exc}"
    seen = f"{spec.method} {url} -> {response.status_code}"
    if response.status_code not in spec.expect_status:
        expected = " or ".join(str(s) for s in spec.expect_status)
        return False, f"{seen}, expected {expected}"
    text = response.text
    if spec.body_regex and not re.search(spec.body_regex, text):
        return False, f"{seen}: body does not match /{spec.body_regex}/ (first 200 chars: {text[:200]!r})"
    if spec.json_fields:
        try:
            data = json.loads(text)
        except ValueError:
            return False, f"{seen}: body is not JSON (first 200 chars: {text[:200]!r})"
        for path, expected in spec.json_fields.items():
            value = _field(data, path)
            if value is _MISSING:
                return False, f"{seen}: json field {path} is missing"
            if value != expected and str(value) != str(expected):
                return False, f"{seen}: json field {path} is {value!r}, expected {expected!r}"
    return True, seen
