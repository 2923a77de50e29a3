"""Cluster credentials, in the order kubectl and kr8s use: explicit, KUBECONFIG, ~/.kube/config, in-cluster."""

from __future__ import annotations

import os
import urllib.parse
from collections.abc import Mapping
from pathlib import Path

import yaml
from kubernetes import client, config
from kubernetes.config.config_exception import ConfigException

from pipeline_steps.errors import ConfigError
from pipeline_steps.kube.errors import config_error

IN_CLUSTER_TOKEN = Path("/var/run/secrets/kubernetes.io/serviceaccount/token")


def credentials_source(kubeconfig: str | None, env: Mapping[str, str], home: Path) -> str:
    """Where credentials come from: a kubeconfig path, or "in-cluster". Pure, so it is tested."""
    if kubeconfig:
        return kubeconfig
    if env.get("KUBECONFIG"):
        return env["KUBECONFIG"]
    default = home / ".kube" / "config"
    if default.exists():
        return str(default)
    if env.get("KUBERNETES_SERVICE_HOST"):
        return "in-cluster"
    raise ConfigError(
        "no cluster credentials found",
        hint="pass --kubeconfig PATH, set KUBECONFIG, create ~/.kube/config, or run in a pod with a ServiceAccount",
    )


def connect(kubeconfig: str | None = None, context: str | None = None) -> client.ApiClient:
    source = credentials_source(kubeconfig, os.environ, Path.home())
    try:
        if source == "in-cluster":
            configuration = client.Configuration()
            config.load_incluster_config(client_configuration=configuration)
            return client.ApiClient(configuration)
        # KUBECONFIG may list several files; the client merges them as kubectl does.
        api = config.new_client_from_config(config_file=source, context=context)
    except (ConfigException, OSError) as exc:
        raise config_error(exc, source) from exc
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{mark.name}:{mark.line + 1}" if mark is not None else source
        raise config_error(f"not valid YAML: {exc.problem or exc.context}", where) from exc
    except (yaml.YAMLError, TypeError, ValueError, KeyError, AttributeError) as exc:
        # The client reads a kubeconfig of the wrong shape (a list, a number where a list goes, bad base64)
        # with whatever error its code happens to raise.
        raise config_error(f"not a valid kubeconfig ({type(exc).__name__}: {exc})", source) from exc
    _check_server(str(api.configuration.host or ""), source)
    return api


def _check_server(server: str, source: str) -> None:
    """The client takes any text as the server and fails on the first request, as if it were a bug."""
    parts = urllib.parse.urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ConfigError(
            f"the cluster's server {server!r} is not a URL",
            source=source,
            field="clusters[].cluster.server",
            hint="write it as https://HOST:PORT",
        )


def no_cluster_credentials(kubeconfig: str | None, env: Mapping[str, str], home: Path | None = None) -> bool:
    """True when no credentials would be found: a dry-run then plans offline instead of failing."""
    try:
        credentials_source(kubeconfig, env, home or Path.home())
    except ConfigError:
        return True
    return False
