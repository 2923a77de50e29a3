"""pipeline.yaml -> Config: validated, typed, immutable. Every field is documented where it is declared.

The file itself takes `${VAR}` substitution from the environment (plus `--set`), like the manifests, so one
file serves every environment. Flags and PIPELINE_STEPS_* environment variables override the file; flags win.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import yaml

from pipeline_steps.config_reader import Section
from pipeline_steps.errors import ConfigError
from pipeline_steps.render import substitute

STRATEGIES = ("bluegreen", "rolling")
CONFIRM_MODES = ("auto", "prompt", "jenkins", "github", "wait")
POST_CLEAN_POLICIES = ("keep", "hot-backup", "scale-down")
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")


@dataclasses.dataclass(frozen=True)
class ImageSettings:
    #: The image to release: a prebuilt reference. `--image` overrides it; without either, the value of
    #: the `variable` below in the environment (so `IMAGE=... pipeline-steps run` works as it reads).
    reference: str | None = None
    #: The variable the manifests use for the image; the runner sets it to the resolved `repo@sha256:...`.
    variable: str = "IMAGE"
    #: Resolve the tag to a digest from the registry and deploy by digest (recommended: tags move).
    resolve_digest: bool = True
    #: Verify the registry's TLS certificate when resolving (false for a plain-HTTP local registry).
    tls_verify: bool = True
    #: The `image.build` section (builder, context, containerfile...); None: take the reference as built.
    build: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class BlueGreenSettings:
    #: The pod label that tells the two roles apart; the public Service selects on it.
    role_label: str = "role"
    #: The two roles' values of that label. The first one is used for a first release.
    roles: tuple[str, str] = ("blue", "green")
    #: The Service that carries public traffic. Test Services are the other Services of the manifests.
    public_service: str = ""


@dataclasses.dataclass(frozen=True)
class RollingSettings:
    #: The Service that carries public traffic (verify-prod tests through it).
    public_service: str = ""


@dataclasses.dataclass(frozen=True)
class ConfirmSettings:
    #: auto: no gate; prompt: ask on the terminal; jenkins/github: the CI's own gate decides after this
    #: step; wait: wait until `pipeline-steps approve|reject` records a decision on the cluster.
    mode: str = "prompt"
    #: How long `wait` and `prompt` wait for a decision.
    timeout_s: float = 1800.0
    #: What a timeout means.
    on_timeout: str = "reject"
    #: Who may approve (empty: anyone who can write the annotation).
    approvers: tuple[str, ...] = ()
    #: The `confirm.mail` section, parsed by the notifier; None: no e-mail.
    mail: Mapping[str, Any] | None = None


@dataclasses.dataclass(frozen=True)
class PostCleanSettings:
    #: keep: leave the old role as it is, for instant rollback; hot-backup: update it to the new release
    #: too; scale-down: scale it to zero after `scale_down_delay`.
    policy: str = "keep"
    scale_down_delay_s: float = 0.0


@dataclasses.dataclass(frozen=True)
class Timeouts:
    #: How long deploy waits for a rollout to complete before it fails (rolling: and undoes it).
    rollout_s: float = 600.0
    #: How long switch waits for the public Service's endpoints to list only the new role.
    switch_s: float = 120.0


@dataclasses.dataclass(frozen=True)
class Config:
    path: Path
    #: The app's name: names the state file, the lock and the annotations. A DNS label.
    app: str
    namespace: str
    strategy: str
    #: Manifest paths or globs, relative to the config file's directory.
    manifests: tuple[str, ...]
    image: ImageSettings
    bluegreen: BlueGreenSettings
    rolling: RollingSettings
    #: Check lists, parsed by pipeline_steps.checks when the verify steps run.
    verify_staged: Any
    verify_prod: Any
    confirm: ConfirmSettings
    post_clean: PostCleanSettings
    timeouts: Timeouts
    #: Blue/green requires readiness probes (traffic would reach pods that are not ready); allow it anyway.
    allow_missing_readiness: bool = False
    #: The variables the config and manifests were rendered with (environment + --set).
    variables: Mapping[str, str] = dataclasses.field(default_factory=dict, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def public_service(self) -> str:
        return self.bluegreen.public_service if self.strategy == "bluegreen" else self.rolling.public_service


@dataclasses.dataclass(frozen=True)
class Overrides:
    """Flags (and their PIPELINE_STEPS_* environment equivalents) that win over the file."""

    namespace: str | None = None
    image: str | None = None
    confirm_mode: str | None = None
    post_clean: str | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> Overrides:
        return cls(
            namespace=env.get("PIPELINE_STEPS_NAMESPACE") or None,
            image=env.get("PIPELINE_STEPS_IMAGE") or None,
            confirm_mode=env.get("PIPELINE_STEPS_CONFIRM_MODE") or None,
            post_clean=env.get("PIPELINE_STEPS_POST_CLEAN") or None,
        )

    def over(self, lower: Overrides) -> Overrides:
        """These overrides, falling back to `lower` where unset (flags over environment)."""
        return Overrides(
            **{
                f.name: getattr(self, f.name) if getattr(self, f.name) is not None else getattr(lower, f.name)
                for f in dataclasses.fields(self)
            }
        )


def load_config(path: Path, variables: Mapping[str, str], overrides: Overrides | None = None) -> Config:
    """Read, substitute and validate pipeline.yaml. Raises ConfigError naming file, field and fix."""
    source = str(path)
    try:
        text = path.read_text()
    except FileNotFoundError as exc:
        raise ConfigError(
            "config file not found", source=source, hint="pass -c PATH or set PIPELINE_STEPS_CONFIG"
        ) from exc
    except OSError as exc:
        raise ConfigError(f"cannot read config file: {exc.strerror}", source=source) from exc
    try:
        data = yaml.safe_load(substitute(text, variables, source=source))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        raise ConfigError(f"not valid YAML: {getattr(exc, 'problem', exc)}", source=where) from exc
    return parse_config(data, path=path, variables=variables, overrides=overrides or Overrides())


def parse_config(data: Any, *, path: Path, variables: Mapping[str, str], overrides: Overrides) -> Config:
    source = str(path)
    top = Section(data, source=source, path="")
    app = top.string("app", required=True)
    if not _DNS_LABEL.match(app) or len(app) > 50:
        raise top.error("app", f"{app!r} is not a DNS label", hint="lower-case letters, digits and '-', at most 50")
    file_namespace = top.string("namespace", "default")
    namespace = overrides.namespace or file_namespace
    if not _DNS_LABEL.match(namespace) or len(namespace) > 63:
        where = "--namespace / PIPELINE_STEPS_NAMESPACE" if overrides.namespace else None
        message = f"{namespace!r} is not a valid namespace name"
        hint = "lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit"
        if where:
            raise ConfigError(message, field=where, hint=hint)
        raise top.error("namespace", message, hint=hint)
    strategy = top.choice("strategy", STRATEGIES, "bluegreen")
    manifests = top.string_list("manifests")
    if not manifests:
        raise top.error("manifests", "is required", hint="list the manifest files or globs, e.g. [k8s/*.yaml]")

    image_section = top.section("image")
    build = image_section.raw("build")
    if build is not None and not isinstance(build, Mapping):
        raise image_section.error("build", "must be a mapping (builder, context, containerfile...)")
    file_reference = image_section.string("reference")
    image_variable = str(image_section.string("variable", "IMAGE"))
    image = ImageSettings(
        reference=overrides.image or file_reference or variables.get(image_variable) or None,
        variable=image_variable,
        resolve_digest=image_section.boolean("resolve_digest", True),
        tls_verify=image_section.boolean("tls_verify", True),
        build=build,
    )
    image_section.done()

    bg_section = top.section("bluegreen")
    roles = bg_section.string_list("roles", ("blue", "green"))
    if len(roles) != 2 or roles[0] == roles[1]:
        raise bg_section.error("roles", f"must be two different values, got {list(roles)}", hint="e.g. [blue, green]")
    bluegreen = BlueGreenSettings(
        role_label=bg_section.string("role_label", "role"),
        roles=(roles[0], roles[1]),
        public_service=bg_section.string("public_service", app),
    )
    bg_section.done()
    rolling_section = top.section("rolling")
    rolling = RollingSettings(public_service=rolling_section.string("public_service", app))
    rolling_section.done()

    verify = top.section("verify")
    verify_staged = verify.raw("staged", [])
    verify_prod = verify.raw("prod", [])
    verify.done()

    confirm = _confirm(top.section("confirm"), overrides)
    post_clean = _post_clean(top.section("post_clean"), overrides)

    timeout_section = top.section("timeouts")
    timeouts = Timeouts(
        rollout_s=timeout_section.duration("rollout", 600.0),
        switch_s=timeout_section.duration("switch", 120.0),
    )
    timeout_section.done()
    allow_missing_readiness = top.boolean("allow_missing_readiness", False)
    top.done()
    return Config(
        path=path,
        app=app,
        namespace=namespace,
        strategy=strategy,
        manifests=manifests,
        image=image,
        bluegreen=bluegreen,
        rolling=rolling,
        verify_staged=verify_staged,
        verify_prod=verify_prod,
        confirm=confirm,
        post_clean=post_clean,
        timeouts=timeouts,
        allow_missing_readiness=allow_missing_readiness,
        variables=dict(variables),
    )


def _confirm(confirm_section: Section, overrides: Overrides) -> ConfirmSettings:
    mail = confirm_section.raw("mail")
    if mail is not None and not isinstance(mail, Mapping):
        raise confirm_section.error("mail", "must be a mapping (host, port, from, to...)")
    confirm = ConfirmSettings(
        mode=confirm_section.choice("mode", CONFIRM_MODES, "prompt"),
        timeout_s=confirm_section.duration("timeout", 1800.0),
        on_timeout=confirm_section.choice("on_timeout", ("reject", "approve"), "reject"),
        approvers=confirm_section.string_list("approvers"),
        mail=mail,
    )
    confirm_section.done()
    if overrides.confirm_mode:
        mode = _override(overrides.confirm_mode, CONFIRM_MODES, "--confirm-mode / PIPELINE_STEPS_CONFIRM_MODE")
        confirm = dataclasses.replace(confirm, mode=mode)
    return confirm


def _post_clean(post_section: Section, overrides: Overrides) -> PostCleanSettings:
    post_clean = PostCleanSettings(
        policy=post_section.choice("policy", POST_CLEAN_POLICIES, "keep"),
        scale_down_delay_s=post_section.duration("scale_down_delay", 0.0),
    )
    post_section.done()
    if overrides.post_clean:
        policy = _override(overrides.post_clean, POST_CLEAN_POLICIES, "--post-clean / PIPELINE_STEPS_POST_CLEAN")
        post_clean = dataclasses.replace(post_clean, policy=policy)
    return post_clean


def _override(value: str, choices: tuple[str, ...], field: str) -> str:
    if value not in choices:
        raise ConfigError(f"{value!r} is not one of {', '.join(choices)}", field=field)
    return value
