"""Label and field selectors as a Kubernetes API server reads them from a list request's query.

The grammar of k8s.io/apimachinery/pkg/labels: comma-separated requirements, each `key`, `!key`,
`key=value`, `key==value`, `key!=value`, `key in (a,b)`, `key notin (a,b)`, `key>1` or `key<1`.
The HPA controller lists metrics with the scale target's selector written this way.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

_TOKEN = re.compile(r"\s*(==|!=|=|!|\(|\)|,|<|>|[^\s=!(),<>]+)")
_OPERATORS = {"=", "==", "!=", "<", ">"}


class SelectorError(ValueError):
    """A selector that does not parse; the message says where."""


@dataclass(frozen=True)
class Requirement:
    key: str
    #: "exists", "!", "=", "!=", "in", "notin", "<", ">"
    operator: str
    values: tuple[str, ...] = ()

    def holds(self, labels: Mapping[str, str]) -> bool:
        present = self.key in labels
        value = labels.get(self.key, "")
        if self.operator == "exists":
            return present
        if self.operator == "!":
            return not present
        if self.operator in ("=", "in"):
            return present and value in self.values
        if self.operator in ("!=", "notin"):
            return not present or value not in self.values
        # "<" and ">": both sides must be integers, as in apimachinery.
        try:
            number, bound = int(value), int(self.values[0])
        except ValueError:
            return False
        return present and (number < bound if self.operator == "<" else number > bound)


def _tokens(text: str) -> list[str]:
    tokens: list[str] = []
    position = 0
    text = text.rstrip()
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:  # pragma: no cover - the pattern matches any non-space character
            raise SelectorError(f"unexpected character at {position} in selector {text!r}")
        tokens.append(match.group(1))
        position = match.end()
    return tokens


def parse_selector(text: str) -> tuple[Requirement, ...]:
    """The requirements of a label selector; an empty selector selects everything."""
    return _Parser(text).requirements()


class _Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = _tokens(text)
        self.index = 0

    def fail(self, why: str) -> SelectorError:
        return SelectorError(f"unable to parse requirement: {why} in label selector {self.text!r}")

    def peek(self) -> str | None:
        return self.tokens[self.index] if self.index < len(self.tokens) else None

    def take(self) -> str | None:
        token = self.peek()
        self.index += 1
        return token

    def requirements(self) -> tuple[Requirement, ...]:
        found: list[Requirement] = []
        while self.peek() is not None:
            found.append(self.requirement())
            separator = self.take()
            if separator not in (None, ","):
                raise self.fail(f"expected ',' but found {separator!r}")
        return tuple(found)

    def requirement(self) -> Requirement:
        word = self.take()
        if word == "!":
            key = self.take()
            if key is None or not _is_word(key):
                raise self.fail("a key must follow '!'")
            return Requirement(key, "!")
        if word is None or not _is_word(word):
            raise self.fail(f"unexpected {word!r}")
        following = self.peek()
        if following in (None, ","):
            return Requirement(word, "exists")
        if following in _OPERATORS:
            operator = str(self.take())
            value = self.peek()
            if value is not None and _is_word(value):
                self.take()
            else:
                value = ""  # `key=` selects the empty value
            if operator in ("<", ">") and not value.lstrip("-").isdigit():
                raise self.fail(f"{word}{operator} needs an integer")
            return Requirement(word, "=" if operator == "==" else operator, (value,))
        if following in ("in", "notin"):
            operator = str(self.take())
            return Requirement(word, operator, self.value_set())
        raise self.fail(f"unexpected {following!r} after key {word!r}")

    def value_set(self) -> tuple[str, ...]:
        if self.take() != "(":
            raise self.fail("a set of values must start with '('")
        values: list[str] = []
        while True:
            token = self.take()
            if token is None or not _is_word(token):
                raise self.fail(f"expected a value, found {token!r}")
            values.append(token)
            after = self.take()
            if after == ")":
                return tuple(values)
            if after != ",":
                raise self.fail(f"expected ',' or ')' in a set of values, found {after!r}")


def _is_word(token: str) -> bool:
    return token not in ("==", "!=", "=", "!", "(", ")", ",", "<", ">")


def parse_field_selector(text: str, known: Sequence[str]) -> tuple[Requirement, ...]:
    """A field selector (`f=v`, `f==v`, `f!=v`, comma-separated) over the fields this resource supports."""
    requirements: list[Requirement] = []
    for term in filter(None, (t.strip() for t in text.split(","))):
        match = re.fullmatch(r"([^=!\s]+)\s*(==|!=|=)\s*(.*)", term)
        if match is None:
            raise SelectorError(f"invalid field selector term {term!r}: expected field=value or field!=value")
        key, operator, value = match.groups()
        if key not in known:
            raise SelectorError(f'field label not supported: "{key}" (supported: {", ".join(known)})')
        requirements.append(Requirement(key, "!=" if operator == "!=" else "=", (value,)))
    return tuple(requirements)


def matches(requirements: Sequence[Requirement], labels: Mapping[str, str]) -> bool:
    return all(r.holds(labels) for r in requirements)
