"""The vocabulary of pipeline.yaml's model: the section base class and the value types its fields share.

Every check raises a `problem` (message and hint) instead of pydantic's wording, so a user reads the same
sentences whatever the field; `pipeline_steps.config.problems` adds file, line and field. A section reports
all of its problems together: unknown keys (with the nearest known one), missing keys and wrong values.

The file is substituted (`${VAR}`) as text before it is parsed, so an editor sees `resolve_digest:
${RESOLVE_DIGEST:-true}` where the model sees a boolean. The JSON Schema therefore also accepts a string
holding a `${...}` reference wherever the model takes a boolean, a number, a duration or a choice (`Templated`).
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterable, Mapping
from typing import Annotated, Any, ClassVar

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    GetJsonSchemaHandler,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WithJsonSchema,
    model_validator,
)
from pydantic.json_schema import JsonSchemaValue
from pydantic_core import InitErrorDetails, PydanticCustomError
from pydantic_core import core_schema as cs

#: A key of the file, or a position in one of its lists: where a problem is, relative to the value checked.
Location = tuple[str | int, ...]

PROBLEM = "config"
QUOTE_HINT = "quote it: YAML reads unquoted yes, no, on, off, true and false as booleans"
DURATION_HINT = 'write e.g. 30, "30s", "5m", "1h"'
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$")
_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, None: 1.0}
_DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

#: A value that holds a `${VAR}` reference: what an editor sees before substitution. The published schema
#: defines it once (`$defs/Variable`); fields mark where it is accepted with VARIABLE_REF, which
#: `pipeline_steps.config.schema` turns into a reference (pydantic resolves only the `$ref`s it made itself).
VARIABLE_SCHEMA: JsonSchemaValue = {
    "type": "string",
    "pattern": r"\$\{[A-Za-z_][A-Za-z0-9_]*(:-[^}]*)?\}",
    "description": "A ${VAR} or ${VAR:-default} reference, substituted before the file is read.",
}
VARIABLE_REF: JsonSchemaValue = {"x-pipeline-steps-variable": True}


def problem(message: str, hint: str | None = None) -> PydanticCustomError:
    """A validation error in the project's words; raise it from a validator."""
    return PydanticCustomError(PROBLEM, "{message}", {"message": message, "hint": hint})


def problems(title: str, found: Iterable[tuple[Location, str, str | None, Any]]) -> ValidationError:
    """Several problems at once, each at its own location (key, message, hint, input), to raise from a validator."""
    return ValidationError.from_exception_data(
        title,
        [InitErrorDetails(type=problem(message, hint), loc=loc, input=value) for loc, message, hint, value in found],
    )


def _rebuilt(error: Any) -> InitErrorDetails:
    """An error pydantic reported, as the details to raise it again (with others) from a validator."""
    ctx = error.get("ctx")
    kind = problem(ctx["message"], ctx["hint"]) if error["type"] == PROBLEM and ctx else error["type"]
    details = InitErrorDetails(type=kind, loc=error["loc"], input=error["input"])
    if ctx and error["type"] != PROBLEM:
        details["ctx"] = ctx
    return details


class Templated:
    """Schema only: the value may also be written as a `${VAR}` reference (see the module's docstring)."""

    def __get_pydantic_json_schema__(self, schema: cs.CoreSchema, handler: GetJsonSchemaHandler) -> JsonSchemaValue:
        return {"anyOf": [handler(schema), VARIABLE_REF]}


TEMPLATED = Templated()


class Section(BaseModel):
    """One mapping of pipeline.yaml: immutable; an unknown key is an error naming the nearest known one.

    A key without a value (`image:`) means the same as no key, as it always has.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, hide_input_in_errors=True)

    #: Said in "must be a mapping (...)": what the section holds, for a value that is not a mapping.
    holds: ClassVar[str] = ""
    #: The fix for a missing required key, where "add `key:`" is not enough.
    missing_hints: ClassVar[Mapping[str, str]] = {}
    #: Keys refused with their own message and hint (a literal password).
    refused: ClassVar[Mapping[str, tuple[str, str]]] = {}

    @model_validator(mode="wrap")
    @classmethod
    def _mapping_of_known_keys(cls, data: Any, handler: ValidatorFunctionWrapHandler) -> Any:
        if isinstance(data, cls):
            return data
        if data is None:
            data = {}
        if not isinstance(data, Mapping):
            what = f"a mapping ({cls.holds})" if cls.holds else "a mapping"
            raise problem(f"must be {what}, not {type(data).__name__}")
        known = cls.keys()
        found: list[InitErrorDetails] = []
        for key in data:
            at = (key if isinstance(key, (str, int)) else str(key),)
            if key in cls.refused:
                message, hint = cls.refused[key]
                found.append(InitErrorDetails(type=problem(message, hint), loc=at, input=None))
            elif key not in known:
                found.append(InitErrorDetails(type=_unknown(str(key), known), loc=at, input=data[key]))
        given = {key: value for key, value in data.items() if key in known and value is not None}
        try:
            result = handler(cls.completed(given))
        except ValidationError as exc:
            found.extend(cls._worded(error) for error in exc.errors())
        if found:
            raise ValidationError.from_exception_data(cls.__name__, found)
        return result

    @classmethod
    def keys(cls) -> list[str]:
        """The keys this section takes, as written in the file."""
        return [field.alias or name for name, field in cls.model_fields.items()]

    @classmethod
    def completed(cls, data: dict[Any, Any]) -> dict[Any, Any]:
        """The given keys, with defaults that depend on other keys filled in (none here)."""
        return data

    @classmethod
    def _worded(cls, error: Any) -> InitErrorDetails:
        key = error["loc"][0] if len(error["loc"]) == 1 else None
        if error["type"] == "missing" and isinstance(key, str) and key in cls.missing_hints:
            return InitErrorDetails(type=problem("is required", cls.missing_hints[key]), loc=error["loc"], input=None)
        return _rebuilt(error)


def _unknown(key: str, known: list[str]) -> PydanticCustomError:
    close = difflib.get_close_matches(key, known, n=1)
    guess = f"did you mean `{close[0]}`? " if close else ""
    return problem("is not a known setting", f"{guess}known here: {', '.join(sorted(known))}; check the spelling")


# -- scalar values -----------------------------------------------------------------------------------------


def text(value: Any) -> str:
    """A string; a number is taken as its text (`namespace: 2024`), a YAML boolean is refused."""
    if isinstance(value, bool):
        # bool is an int: without this, an unquoted `no` would silently become the string "False".
        raise problem(f"must be text, not the boolean {value!r}", QUOTE_HINT)
    if isinstance(value, (str, int, float)):
        return str(value)
    raise problem(f"must be a string, not {type(value).__name__} {value!r}")


def maybe_text(value: Any) -> str | None:
    """Text, where an empty string means the same as no value."""
    return text(value) or None


def _flag(value: Any) -> bool:
    if not isinstance(value, bool):
        raise problem(f"must be bool, not {type(value).__name__} {value!r}", "write true or false")
    return value


def _count(value: Any) -> int:
    if isinstance(value, bool):
        raise problem(f"must be a number, not {value!r}")
    if not isinstance(value, int):
        raise problem(f"must be int, not {type(value).__name__} {value!r}")
    return value


def parse_duration(value: Any) -> float:
    """Seconds from a number or a string such as "90s", "5m", "1h", "250ms"."""
    if isinstance(value, bool):
        raise problem(f"must be a duration, not {value!r}", DURATION_HINT)
    if isinstance(value, (int, float)):
        seconds = float(value)
    else:
        match = _DURATION.match(str(value))
        if not match:
            raise problem(f"{value!r} is not a duration", DURATION_HINT)
        seconds = float(match.group(1)) * _UNITS[match.group(2)]
    if seconds < 0:
        raise problem(f"must not be negative, got {value!r}")
    return seconds


def names(value: Any) -> tuple[str, ...]:
    """A string or a list of strings (numbers taken as their text)."""
    if isinstance(value, str):
        return (value,)
    if not isinstance(value, (list, tuple)) or not all(isinstance(v, (str, int)) for v in value):
        raise problem(f"must be a string or a list of strings, not {value!r}")
    if any(isinstance(v, bool) for v in value):
        raise problem(f"must be a list of strings, not {list(value)!r}", QUOTE_HINT)
    return tuple(str(v) for v in value)


def string_map(value: Any) -> dict[str, str]:
    """A mapping whose keys and values are taken as text (`X-Count: 2`)."""
    if not isinstance(value, Mapping):
        raise problem(f"must be dict, not {type(value).__name__} {value!r}")
    return {str(k): str(v) for k, v in value.items()}


def any_map(value: Any) -> dict[str, Any]:
    if not isinstance(value, Mapping):
        raise problem(f"must be dict, not {type(value).__name__} {value!r}")
    return {str(k): v for k, v in value.items()}


def one_of(choices: Iterable[str]) -> BeforeValidator:
    """A choice among `choices`, which the field's Literal or enum type also lists for the schema."""
    allowed = tuple(choices)

    def check(value: Any) -> str:
        chosen = text(value)
        if chosen not in allowed:
            raise problem(f"is {chosen!r}; choose one of: {', '.join(allowed)}")
        return chosen

    return BeforeValidator(check)


def dns_label(what: str, longest: int, hint: str) -> BeforeValidator:
    def check(value: Any) -> str:
        label = text(value)
        if not _DNS_LABEL.match(label) or len(label) > longest:
            raise problem(f"{label!r} is {what}", hint)
        return label

    return BeforeValidator(check)


def namespace_problem(value: str) -> str | None:
    """Why `value` cannot name a namespace, or None (for a namespace given by a flag)."""
    if not _DNS_LABEL.match(value) or len(value) > 63:
        return f"{value!r} is not a valid namespace name"
    return None


NAMESPACE_HINT = "lower-case letters, digits and '-', at most 63, starting and ending with a letter or digit"
_TEXT_SCHEMA: JsonSchemaValue = {"type": ["string", "number"]}
_NAMES_SCHEMA: JsonSchemaValue = {
    "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": ["string", "integer"]}, "minItems": 1}]
}
_DURATION_SCHEMA: JsonSchemaValue = {
    "anyOf": [
        {"type": "number", "minimum": 0},
        {"type": "string", "pattern": _DURATION.pattern},
        VARIABLE_REF,
    ]
}
_MAP_SCHEMA: JsonSchemaValue = {"type": "object", "additionalProperties": {"type": ["string", "number", "boolean"]}}


#: Text: a string, or a number taken as its text.
Text = Annotated[str, BeforeValidator(text), WithJsonSchema(_TEXT_SCHEMA)]
#: Text where "" means unset (a username, a file).
MaybeText = Annotated[str | None, BeforeValidator(maybe_text), WithJsonSchema(_TEXT_SCHEMA)]
#: true or false, never 1, "yes" or "on" in quotes.
Flag = Annotated[bool, BeforeValidator(_flag), TEMPLATED]
#: A whole number; a boolean or a string is refused.
Count = Annotated[int, BeforeValidator(_count), TEMPLATED]
#: Seconds: a number, or "250ms", "30s", "5m", "1h".
Duration = Annotated[float, BeforeValidator(parse_duration), WithJsonSchema(_DURATION_SCHEMA)]
#: One string or a list of them.
Names = Annotated[tuple[str, ...], BeforeValidator(names), WithJsonSchema(_NAMES_SCHEMA)]
#: Names to values, both taken as text (headers, environment variables).
StringMap = Annotated[dict[str, str], BeforeValidator(string_map), WithJsonSchema(_MAP_SCHEMA)]
#: Names to values of any type (expected JSON fields).
AnyMap = Annotated[dict[str, Any], BeforeValidator(any_map), WithJsonSchema({"type": "object"})]
