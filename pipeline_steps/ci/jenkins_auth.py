"""Where a Jenkins controller is and who talks to it; how job and build URLs map onto it."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Mapping
from pathlib import Path
from urllib.parse import quote, unquote, urlsplit

from pipeline_steps.errors import ConfigError

URL_ENV = "JENKINS_URL"
USER_ENV = "JENKINS_USER"
TOKEN_ENV = "JENKINS_API_TOKEN"  # noqa: S105  # the variable's name, not a secret

_BUILD_PATH = re.compile(r"^(?P<job>(?:job/[^/]+/)*job/[^/]+)/(?P<number>[0-9]+)/?$")
_JOB_PATH = re.compile(r"^(?:job/[^/]+/)*job/[^/]+/?$")


@dataclasses.dataclass(frozen=True)
class JenkinsAuth:
    """Connection settings for one Jenkins controller. The API token is kept out of repr and logs.

    Credentials are sent only to ``base_url``: job and build URLs on another host are refused.
    """

    base_url: str
    user: str | None = None
    api_token: str | None = dataclasses.field(default=None, repr=False)
    timeout: float = 30.0  #: seconds for one HTTP request, not for a whole build
    verify: bool = True  #: check the controller's TLS certificate; False only for a throwaway controller
    ca_bundle: str | None = None  #: PEM file of the CA that signed the controller's certificate
    retry_attempts: int = 3  #: tries per request on connection errors, timeouts and 5xx answers
    retry_backoff: float = 1.0  #: seconds before the second try, doubled for each further one

    def __post_init__(self) -> None:
        base = self.base_url.strip().rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname or parts.query or parts.fragment:
            raise ConfigError(
                f"{self.base_url!r} is not a Jenkins URL",
                field="base_url",
                hint=f"pass the controller's root URL, e.g. https://jenkins.example.com/ (or set {URL_ENV})",
            )
        if parts.username or parts.password:
            raise ConfigError(
                "the Jenkins URL must not carry credentials",
                field="base_url",
                hint=f"set {USER_ENV} and {TOKEN_ENV} instead",
            )
        object.__setattr__(self, "base_url", base)
        if bool(self.user) != bool(self.api_token):
            missing = TOKEN_ENV if self.user else USER_ENV
            raise ConfigError(
                f"a Jenkins user needs an API token and a token needs a user: {missing} is not set",
                field=missing,
                hint="create a token under <your user> > Security > API Token in Jenkins",
            )
        if self.timeout <= 0:
            raise ConfigError(f"timeout must be positive, got {self.timeout}", field="timeout")
        if self.retry_attempts < 1:
            raise ConfigError(f"retry_attempts must be at least 1, got {self.retry_attempts}", field="retry_attempts")
        if self.retry_backoff < 0:
            raise ConfigError(f"retry_backoff must not be negative, got {self.retry_backoff}", field="retry_backoff")
        if self.ca_bundle is not None and not Path(self.ca_bundle).is_file():
            raise ConfigError(
                f"CA bundle {self.ca_bundle} does not exist",
                field="ca_bundle",
                hint="pass a PEM file of CA certificates",
            )

    @classmethod
    def from_env(
        cls,
        base_url: str | None = None,
        *,
        user: str | None = None,
        api_token: str | None = None,
        timeout: float = 30.0,
        verify: bool = True,
        ca_bundle: str | None = None,
        env: Mapping[str, str] | None = None,
    ) -> JenkinsAuth:
        """Settings from explicit values, falling back to JENKINS_URL, JENKINS_USER and JENKINS_API_TOKEN."""
        environ = os.environ if env is None else env
        url = base_url or environ.get(URL_ENV)
        if not url:
            raise ConfigError(
                "no Jenkins URL given",
                field=URL_ENV,
                hint=f"pass --jenkins-url or set {URL_ENV} to the controller's URL",
            )
        return cls(
            base_url=url,
            user=user or environ.get(USER_ENV) or None,
            api_token=api_token or environ.get(TOKEN_ENV) or None,
            timeout=timeout,
            verify=verify,
            ca_bundle=ca_bundle,
        )

    @property
    def host(self) -> str:
        """The controller as messages name it: host[:port]."""
        return urlsplit(self.base_url).netloc

    @property
    def tls_verify(self) -> bool | str:
        """What requests takes as ``verify``: the CA bundle if one is given, else the flag."""
        return self.ca_bundle if self.ca_bundle is not None else self.verify

    def job_location(self, job_url_or_name: str) -> tuple[str, str]:
        """(job URL, full name) of a job given as ``folder/app`` or as a URL under ``base_url``."""
        text = job_url_or_name.strip()
        if not text:
            raise ConfigError("no Jenkins job given", field="job", hint="pass a job name like folder/app, or its URL")
        if "://" in text:
            path = self._path_under_base(text, "job")
            if not _JOB_PATH.match(path):
                raise ConfigError(
                    f"{text} is not the URL of a job",
                    field="job",
                    hint=f"a job URL looks like {self.base_url}/job/folder/job/app/",
                )
            names = [unquote(segment) for segment in path.strip("/").split("/")[1::2]]
        else:
            names = [segment for segment in text.strip("/").split("/") if segment]
            if names and names[0] == "job":  # the URL path form: job/folder/job/app
                names = names[1::2]
        url = self.base_url + "".join(f"/job/{quote(name, safe='')}" for name in names)
        return url, "/".join(names)

    def build_location(self, build_url: str) -> tuple[str, str, int]:
        """(job URL, job full name, build number) of a build URL under ``base_url``."""
        path = self._path_under_base(build_url.strip(), "build_url")
        match = _BUILD_PATH.match(path)
        if not match:
            raise ConfigError(
                f"{build_url} is not the URL of a build",
                field="build_url",
                hint=f"a build URL looks like {self.base_url}/job/app/42/ (the number, not lastBuild)",
            )
        job_url, job_name = self.job_location(f"{self.base_url}/{match['job']}")
        return job_url, job_name, int(match["number"])

    def _path_under_base(self, url: str, field: str) -> str:
        # Comparing host and path, not scheme: jenkinsapi's requester rewrites every URL to the base URL's scheme.
        base, given = urlsplit(self.base_url), urlsplit(url)
        base_path = base.path.rstrip("/") + "/"
        if given.netloc.lower() != base.netloc.lower() or not given.path.startswith(base_path):
            raise ConfigError(
                f"{url} is not on the Jenkins at {self.base_url}",
                field=field,
                hint="credentials are sent only to the configured Jenkins URL; check --jenkins-url",
            )
        return given.path[len(base_path) :]
