"""The JSON Schema of pipeline.yaml, generated from the model, for editors (the YAML language server).

It describes the file as written, before `${VAR}` substitution: where the model takes a boolean, a number,
a duration or a choice, a `${VAR}` reference is accepted too. A copy is kept in the repository
(schema/pipeline.schema.json); `pipeline-steps schema > schema/pipeline.schema.json` renews it.
"""

from __future__ import annotations

import json
from typing import Any

from pydantic.json_schema import GenerateJsonSchema, JsonSchemaValue

from pipeline_steps.config.fields import VARIABLE_REF, VARIABLE_SCHEMA
from pipeline_steps.config.model import Config

SCHEMA_DIALECT = "https://json-schema.org/draft/2020-12/schema"
REGENERATE = "pipeline-steps schema > schema/pipeline.schema.json"


class _WithoutFieldTitles(GenerateJsonSchema):
    """Titles repeat the key ("Resolve Digest"); editors show the descriptions instead."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def pipeline_schema() -> JsonSchemaValue:
    schema = Config.model_json_schema(by_alias=True, mode="validation", schema_generator=_WithoutFieldTitles)
    schema["$defs"]["Variable"] = VARIABLE_SCHEMA
    published: JsonSchemaValue = _published(
        {"$schema": SCHEMA_DIALECT, **schema, "title": "pipeline-steps pipeline.yaml"}
    )
    return published


def _published(schema: Any) -> Any:
    """The generated schema with `${VAR}` markers as references, and no `"default": null` or `""` (what "not
    set" means, e.g. the app's name, is in the description)."""
    if schema == VARIABLE_REF:
        return {"$ref": "#/$defs/Variable"}
    if isinstance(schema, dict):
        return {
            key: _published(value) for key, value in schema.items() if not (key == "default" and value in (None, ""))
        }
    if isinstance(schema, list):
        return [_published(item) for item in schema]
    return schema


def schema_text() -> str:
    """The schema as it is published: stable key order, one trailing newline."""
    return json.dumps(pipeline_schema(), indent=2, ensure_ascii=False) + "\n"
