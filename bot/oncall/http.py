"""A small blocking JSON-over-HTTP GET (stdlib), run in a worker thread by the providers.

Each request is counted in ``calls`` (``bot.apicalls``) under its provider and endpoint class.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping, Sequence
from typing import Any

from bot.apicalls import (
    CONNECTION,
    INVALID_RESPONSE,
    TIMEOUT,
    ApiCalls,
    ApiName,
    counted,
    http_error,
)
from bot.oncall.model import ProviderError, RateLimited

Query = Sequence[tuple[str, str]]


def get_json(
    base: str,
    path: str,
    query: Query,
    headers: Mapping[str, str],
    timeout: float,
    *,
    calls: ApiCalls | None = None,
    api: ApiName,
    endpoint: str,
) -> Any:
    """GET ``base + path`` with ``query``; the parsed JSON body. A 429 is ``RateLimited`` (with
    its Retry-After), any other failure a ``ProviderError`` with the provider's message. The
    request is counted in ``calls`` as one call to ``api``'s ``endpoint``."""
    with counted(calls, api, endpoint):
        return _get_json(base, path, query, headers, timeout)


def _get_json(
    base: str, path: str, query: Query, headers: Mapping[str, str], timeout: float
) -> Any:
    url = base + path + ("?" + urllib.parse.urlencode(list(query)) if query else "")
    req = urllib.request.Request(url, headers={"Accept": "application/json", **headers})
    try:
        with urllib.request.urlopen(req, timeout=max(timeout, 0.01)) as resp:
            return json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        message = _error_message(e)
        if e.code == 429:
            raise RateLimited(f"rate limited ({message})", _retry_after(e)) from None
        raise ProviderError(f"HTTP {e.code}: {message}", http_error(e.code)) from None
    except TimeoutError:
        raise ProviderError("timed out", TIMEOUT) from None
    except urllib.error.URLError as e:
        kind = TIMEOUT if isinstance(e.reason, TimeoutError) else CONNECTION
        raise ProviderError(str(e.reason), kind) from None
    except ValueError as e:  # not JSON (json.JSONDecodeError is a ValueError)
        raise ProviderError(str(e) or type(e).__name__, INVALID_RESPONSE) from None
    except OSError as e:
        raise ProviderError(str(e) or type(e).__name__, CONNECTION) from None


def _retry_after(e: urllib.error.HTTPError) -> float:
    value = e.headers.get("Retry-After", "") if e.headers else ""
    try:
        return max(0.0, float(value))
    except ValueError:
        return 1.0


def _error_message(e: urllib.error.HTTPError) -> str:
    """PagerDuty's ``{"error": {"message"}}``, Opsgenie's ``{"message"}``, else the reason."""
    try:
        body = json.loads(e.read() or b"null")
    except (OSError, ValueError):
        body = None
    if isinstance(body, dict):
        err = body.get("error")
        if isinstance(err, dict) and err.get("message"):
            return str(err["message"])
        if body.get("message"):
            return str(body["message"])
    return str(e.reason or e.code)
