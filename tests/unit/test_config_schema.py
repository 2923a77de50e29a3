"""The JSON Schema of pipeline.yaml: the committed copy is current, and every example and the README's sample
pass both it (as an editor reads the file, before `${VAR}` substitution) and the model."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from pipeline_steps.cli import main
from pipeline_steps.config import load_config
from pipeline_steps.config.schema import REGENERATE, schema_text

ROOT = Path(__file__).resolve().parents[2]
COMMITTED = ROOT / "schema" / "pipeline.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("**/pipeline.yaml"))
SCHEMA_LINE = "# yaml-language-server: $schema="


def validator() -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(json.loads(COMMITTED.read_text(encoding="utf-8")))


def schema_errors(data: Any) -> list[str]:
    return [f"{'.'.join(map(str, e.absolute_path))}: {e.message}" for e in validator().iter_errors(data)]


def readme_sample() -> str:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("### pipeline.yaml") :]
    start = section.index("```yaml\n") + len("```yaml\n")
    return section[start : section.index("```\n", start)]


def test_the_committed_schema_is_current() -> None:
    assert COMMITTED.read_text(encoding="utf-8") == schema_text(), f"schema/ is stale: run `{REGENERATE}`"


def test_the_schema_is_valid_json_schema() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(COMMITTED.read_text(encoding="utf-8")))


def test_the_schema_verb_prints_it(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["schema"]) == 0
    assert capsys.readouterr().out == schema_text()


def test_help_does_not_load_the_model() -> None:
    # pydantic is loaded by the verbs that read a config, not by every invocation.
    probe = (
        "import sys\nfrom pipeline_steps.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "print(sorted(m for m in sys.modules if m == 'pydantic' or m.startswith('pipeline_steps.config')))"
    )
    done = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_there_are_examples() -> None:
    assert len(EXAMPLES) >= 3


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda path: path.parent.name)
def test_an_example_passes_the_schema_and_the_model(path: Path) -> None:
    text = path.read_text(encoding="utf-8")
    first_line = text.splitlines()[0]
    assert first_line.startswith(SCHEMA_LINE)
    assert (path.parent / first_line.removeprefix(SCHEMA_LINE)).resolve() == COMMITTED
    assert schema_errors(yaml.safe_load(text)) == []
    load_config(path, {})  # the defaults of its ${VAR:-...} are enough


def test_the_readme_sample_passes_the_schema_and_the_model(tmp_path: Path) -> None:
    text = readme_sample()
    assert schema_errors(yaml.safe_load(text)) == []
    path = tmp_path / "pipeline.yaml"
    path.write_text(text, encoding="utf-8")
    config = load_config(path, {"GIT_COMMIT": "4f1c2d9"})
    assert config.confirm.mail is not None and config.confirm.mail.sender == "releases@example.com"


def test_the_readme_says_how_to_point_an_editor_at_the_schema() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert f"{SCHEMA_LINE}../../schema/pipeline.schema.json" in readme


# -- what an editor is told ----------------------------------------------------------------------------------

MINIMAL = {"app": "web", "manifests": ["k8s/*.yaml"]}


@pytest.mark.parametrize(
    "extra",
    [
        {"namespace": "${NAMESPACE:-web}"},
        {"strategy": "${STRATEGY}"},
        {"image": {"resolve_digest": "${RESOLVE_DIGEST:-true}"}},
        {"timeouts": {"rollout": "${ROLLOUT:-5m}", "switch": 90}},
        {"confirm": {"mode": "${CONFIRM_MODE:-wait}", "timeout": "30m", "mail": {"port": "${SMTP_PORT}"}}},
        {"verify": {"prod": [{"http": {"expect_status": [200, 204]}, "retries": "${RETRIES:-5}"}]}},
    ],
)
def test_a_variable_may_stand_for_any_value(extra: dict[str, Any]) -> None:
    data = {**MINIMAL, **extra}
    if "confirm" in extra:
        extra["confirm"]["mail"].update({"host": "smtp.example.com", "from": "ci@example.com", "to": "a@example.com"})
    assert schema_errors(data) == []


@pytest.mark.parametrize(
    ("extra", "where"),
    [
        ({"namespce": "prod"}, ""),
        ({"strategy": "canary"}, "strategy"),
        ({"image": {"resolve_digest": "yes"}}, "image.resolve_digest"),
        ({"timeouts": {"rollout": "soon"}}, "timeouts.rollout"),
        ({"verify": {"staged": [{"name": "both", "http": {}, "command": "true"}]}}, "verify.staged.0"),
        ({"verify": {"staged": [{"http": {"expect_status": 99}}]}}, "verify.staged.0.http"),
        ({"confirm": {"mail": {"host": "h", "from": "a@b.c", "to": "d@e.f", "password": "x"}}}, "confirm.mail"),
        ({"bluegreen": {"roles": ["blue"]}}, "bluegreen.roles"),
    ],
)
def test_a_mistake_is_shown_in_the_editor(extra: dict[str, Any], where: str) -> None:
    errors = schema_errors({**MINIMAL, **extra})
    assert errors, f"the schema accepts {extra}"
    assert all(error.startswith(f"{where}: ") for error in errors), errors


def test_fields_carry_descriptions_for_the_editor() -> None:
    schema = json.loads(COMMITTED.read_text(encoding="utf-8"))
    assert "DNS label" in schema["properties"]["app"]["description"]
    for name, definition in schema["$defs"].items():
        for key, field in definition.get("properties", {}).items():
            assert field.get("description"), f"{name}.{key} has no description"
