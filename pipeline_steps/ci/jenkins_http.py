"""The one HTTP path to Jenkins: jenkinsapi's crumb requester, bounded retries, and errors that say what to fix.

Every request (reads, crumb fetches, POSTs) goes through one ``CrumbRequester`` per connection, so Basic
auth, the session cookie the crumb is bound to, TLS verification and the timeout are set in one place.
"""

from __future__ import annotations

import html
import logging
import re
from collections.abc import Callable, Collection, Mapping
from typing import Any, TypeVar

import requests
import tenacity
from jenkinsapi.utils.crumb_requester import CrumbRequester

from pipeline_steps.ci.jenkins_auth import TOKEN_ENV, USER_ENV, JenkinsAuth
from pipeline_steps.errors import CIError

log = logging.getLogger(__name__)

T = TypeVar("T")

CRUMB_REJECTED = "No valid crumb"
_MAX_BACKOFF = 30.0


class HttpFailure(Exception):
    """An answer with a status the caller did not expect; turned into a CIError before it leaves this package."""

    def __init__(self, method: str, url: str, status: int, text: str) -> None:
        super().__init__(f"{method} {url} answered {status}")
        self.method = method
        self.url = url
        self.status = status
        self.text = text

    @property
    def reason(self) -> str:
        return reason_of(self.text)


def reason_of(text: str) -> str:
    """The human part of a Jenkins error answer (often an HTML page), shortened to one line."""
    heading = re.search(r"<(?:h1|h2|title)[^>]*>(.*?)</", text, re.IGNORECASE | re.DOTALL)
    raw = heading.group(1) if heading and "<" in text[:100] else text
    line = " ".join(html.unescape(re.sub(r"<[^>]+>", " ", raw)).split())
    return line[:200] or "no message"


class _CrumbRefreshingRequester(CrumbRequester):  # type: ignore[misc]  # jenkinsapi has no type hints
    """jenkinsapi's crumb requester, with status-aware crumb fetches and one refetch when a crumb is refused.

    jenkinsapi refetches the crumb only when it already held one; the first POST of a connection that
    meets an expired crumb (the session it was bound to ended) would fail. Here any POST refused with
    "No valid crumb" fetches a fresh crumb and is sent again, once.
    """

    _baseurl: str
    _last_crumb_data: dict[str, str] | bool | None  # None: not fetched yet; False: the controller issues none

    def _get_crumb_data(self) -> dict[str, str] | bool:
        url = self._baseurl + "/crumbIssuer/api/json"
        response = self.get_url(url)
        if response.status_code == 404:
            return False  # CSRF protection is off: no crumb to send
        if response.status_code != 200:
            raise HttpFailure("GET", url, response.status_code, response.text)
        try:
            data = response.json()
            return {str(data["crumbRequestField"]): str(data["crumb"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise HttpFailure("GET", url, response.status_code, f"not a crumb: {response.text[:200]}") from exc

    def post_url(
        self,
        url: str,
        params: Mapping[str, str] | None = None,
        data: Any = None,
        files: Any = None,
        headers: dict[str, str] | None = None,
        allow_redirects: bool = True,
        **kwargs: Any,
    ) -> requests.Response:
        had_crumb = bool(self._last_crumb_data)
        response: requests.Response = super().post_url(
            url, params, data, files, dict(headers or {}), allow_redirects, **kwargs
        )
        if not had_crumb and response.status_code == 403 and CRUMB_REJECTED in response.text:
            log.debug("crumb refused for POST %s; fetching a fresh one", url)
            self._last_crumb_data = None
            response = super().post_url(url, params, data, files, dict(headers or {}), allow_redirects, **kwargs)
        return response


def _is_retryable(exc: BaseException) -> bool:
    if isinstance(exc, requests.exceptions.SSLError):
        return False  # a certificate does not get better by asking again
    if isinstance(exc, requests.ConnectionError | requests.Timeout | requests.exceptions.ChunkedEncodingError):
        return True
    return isinstance(exc, HttpFailure) and exc.status >= 500


class JenkinsConnection:
    """Requests to one controller, each retried on connection errors, timeouts and 5xx, never on other 4xx."""

    def __init__(self, auth: JenkinsAuth) -> None:
        self.auth = auth
        self.requester = _CrumbRefreshingRequester(
            auth.user,
            auth.api_token,
            baseurl=auth.base_url,
            ssl_verify=auth.tls_verify,
            timeout=auth.timeout,
            max_retries=None,  # retries are ours: bounded, and only for what may succeed on a second try
        )

    def get(
        self,
        url: str,
        what: str,
        *,
        params: Mapping[str, str | int] | None = None,
        not_found: str | None = None,
    ) -> requests.Response:
        """GET ``url``; a status other than 200 becomes a CIError saying what could not be done."""

        def once() -> requests.Response:
            response: requests.Response = self.requester.get_url(url, params=dict(params or {}))
            return _expect(response, "GET", url, (200,))

        return self._exchange(what, once, not_found)

    def get_json(
        self, url: str, what: str, *, params: Mapping[str, str | int] | None = None, not_found: str | None = None
    ) -> Any:
        response = self.get(url, what, params=params, not_found=not_found)
        try:
            return response.json()
        except ValueError as exc:
            looks_like = "a Jenkins answer" if "X-Jenkins" in response.headers else "no Jenkins answer (no X-Jenkins)"
            raise CIError(
                f"{url} did not answer with JSON ({response.headers.get('Content-Type', 'no content type')}, "
                f"{looks_like}) while trying to {what}",
                hint=f"check that {self.auth.base_url} is the Jenkins URL and not a login page in front of it",
            ) from exc

    def post(
        self,
        url: str,
        what: str,
        *,
        data: Mapping[str, str] | None = None,
        ok: Collection[int] = (200,),
        handled: Collection[int] = (),
        not_found: str | None = None,
    ) -> tuple[requests.Response, int]:
        """POST a form; returns the answer (its status in ``ok`` or ``handled``) and how many tries it took."""
        attempts = 0

        def once() -> requests.Response:
            nonlocal attempts
            attempts += 1
            # Redirects are not followed: Jenkins answers some POSTs with a redirect to an HTML page.
            response: requests.Response = self.requester.post_url(
                url, data=dict(data) if data else None, allow_redirects=False
            )
            return _expect(response, "POST", url, (*ok, *handled))

        return self._exchange(what, once, not_found), attempts

    def _exchange(self, what: str, once: Callable[[], T], not_found: str | None) -> T:
        retrying = tenacity.Retrying(
            retry=tenacity.retry_if_exception(_is_retryable),
            stop=tenacity.stop_after_attempt(self.auth.retry_attempts),
            wait=tenacity.wait_exponential(multiplier=self.auth.retry_backoff, max=_MAX_BACKOFF),
            before_sleep=self._log_retry(what),
            reraise=True,
        )
        try:
            return retrying(once)
        except HttpFailure as exc:
            attempts = int(retrying.statistics.get("attempt_number", 1))
            raise self._http_error(exc, what, not_found, attempts) from exc
        except requests.exceptions.SSLError as exc:
            raise CIError(
                f"TLS to Jenkins at {self.auth.host} failed while trying to {what}: {exc}",
                hint="pass the CA bundle that signed the controller's certificate (--ca-bundle)",
            ) from exc
        except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError) as exc:
            raise CIError(
                f"cannot reach Jenkins at {self.auth.host} to {what} "
                f"(tried {retrying.statistics.get('attempt_number', 1)} times): {type(exc).__name__}: {exc}",
                hint="check the Jenkins URL, the network and proxies, or raise the timeout",
                retryable=True,
            ) from exc
        except requests.RequestException as exc:
            raise CIError(f"request to Jenkins at {self.auth.host} failed while trying to {what}: {exc}") from exc

    def _log_retry(self, what: str) -> Callable[[tenacity.RetryCallState], None]:
        def before_sleep(state: tenacity.RetryCallState) -> None:
            error = state.outcome.exception() if state.outcome else None
            log.info("Jenkins at %s: %s failed (%s); trying again", self.auth.host, what, error)

        return before_sleep

    def _http_error(self, failure: HttpFailure, what: str, not_found: str | None, attempts: int) -> CIError:
        status, host, user = failure.status, self.auth.host, self.auth.user
        credentials_hint = f"check {USER_ENV} and {TOKEN_ENV}; a token is made under <user> > Security > API Token"
        if status == 401:
            return CIError(
                f"Jenkins at {host} rejected the credentials of user {user!r} (401) while trying to {what}",
                hint=credentials_hint,
            )
        if status == 403 and CRUMB_REJECTED in failure.text:
            return CIError(
                f"Jenkins at {host} refused the CSRF crumb even after a fresh one was fetched, trying to {what}",
                hint="a proxy may drop the session cookie the crumb is bound to; an API token avoids crumbs entirely",
            )
        if status == 403:
            who = f"user {user!r}" if user else "anonymous access"
            return CIError(
                f"Jenkins at {host} does not allow {who} to {what} (403: {failure.reason})",
                hint=f"{credentials_hint}; the user needs the permission (Job/Build, or be an input submitter)",
            )
        if status == 404 and not_found:
            return CIError(not_found)
        if status >= 500:
            return CIError(
                f"Jenkins at {host} answered {status} to {failure.method} {failure.url} "
                f"(tried {attempts} times) while trying to {what}: {failure.reason}",
                hint="the controller may be restarting or overloaded; try again later",
            )
        return CIError(
            f"Jenkins at {host} refused to {what}: {failure.method} {failure.url} answered {status}: {failure.reason}"
        )


def _expect(response: requests.Response, method: str, url: str, statuses: Collection[int]) -> requests.Response:
    if response.status_code not in statuses:
        raise HttpFailure(method, url, response.status_code, response.text)
    return response
