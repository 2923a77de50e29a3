"""Just enough of Groovy to read a declarative Jenkinsfile: its blocks, statements and string literals.

The tests that check the Jenkinsfile's shape (tests/lint) and run its `sh` commands (tests/e2e) read it
with this, so they follow the file as it is rather than a copy of it. It is no Groovy parser: it knows
comments, the four string quotings, brackets, and that a statement ends at a line break outside brackets
(unless the line ends in an operator or comma); `name(args) { ... }` and `name args { ... }` make a block.
Anything it cannot read is an AssertionError naming the line.
"""

from __future__ import annotations

import dataclasses
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

_CONTINUES = {",", "+", "-", "*", "?", ":", "=", "==", "!=", "&&", "||", ".", "->", "<<", "(", "[", "?:"}
_OPERATORS = sorted(["==", "!=", "&&", "||", "->", "<<", "?:", "<=", ">=", "++", "--", "?."], key=len, reverse=True)
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "b": "\b", "f": "\f", "\\": "\\", "'": "'", '"': '"', "$": "$"}


@dataclasses.dataclass(frozen=True)
class Token:
    kind: str  #: ident, str, num, op
    text: str  #: the identifier, the string's value, the number or the operator
    line: int
    quote: str = ""  #: for strings: ', ", ''' or """


def tokenize(source: str) -> list[Token]:
    """Tokens with line breaks kept as op tokens "\\n"."""
    tokens: list[Token] = []
    i, line, n = 0, 1, len(source)
    while i < n:
        char = source[i]
        if char == "\n":
            tokens.append(Token("op", "\n", line))
            line += 1
            i += 1
        elif char in " \t\r":
            i += 1
        elif source.startswith("//", i):
            i = source.find("\n", i) if "\n" in source[i:] else n
        elif source.startswith("/*", i):
            end = source.find("*/", i + 2)
            assert end >= 0, f"line {line}: unclosed comment"
            line += source.count("\n", i, end)
            i = end + 2
        elif char in "'\"":
            quote = source[i : i + 3] if source.startswith(char * 3, i) else char
            value, j = _string(source, i + len(quote), quote, line)
            tokens.append(Token("str", value, line, quote))
            line += source.count("\n", i, j)
            i = j
        elif char.isalpha() or char in "_$@":
            match = re.compile(r"[@$A-Za-z_][A-Za-z0-9_$]*").match(source, i)
            assert match
            tokens.append(Token("ident", match.group(), line))
            i = match.end()
        elif char.isdigit():
            match = re.compile(r"[0-9][0-9_.]*[A-Za-z]?").match(source, i)
            assert match
            tokens.append(Token("num", match.group(), line))
            i = match.end()
        else:
            op = next((o for o in _OPERATORS if source.startswith(o, i)), char)
            tokens.append(Token("op", op, line))
            i += len(op)
    return tokens


def _string(source: str, i: int, quote: str, line: int) -> tuple[str, int]:
    out: list[str] = []
    while True:
        assert i < len(source), f"line {line}: unclosed string"
        if source.startswith(quote, i):
            return "".join(out), i + len(quote)
        char = source[i]
        assert len(quote) == 3 or char != "\n", f"line {line}: line break in a {quote} string"
        if char == "\\":
            following = source[i + 1]
            if following == "\n":  # a backslash before the line break joins the lines
                i += 2
                continue
            out.append(_ESCAPES.get(following, "\\" + following))
            i += 2
            continue
        out.append(char)
        i += 1


@dataclasses.dataclass
class Node:
    """A statement (no body) or a block (`head { body }`)."""

    head: list[Token]
    body: list[Node] | None = None
    parent: Node | None = dataclasses.field(default=None, repr=False)

    @property
    def line(self) -> int:
        return self.head[0].line if self.head else 0

    @property
    def name(self) -> str:
        """The statement's or block's first word: `stage`, `sh`, `withCredentials`, `if`..."""
        return self.head[0].text if self.head and self.head[0].kind == "ident" else ""

    @property
    def is_block(self) -> bool:
        return self.body is not None

    def children(self, name: str | None = None) -> list[Node]:
        return [c for c in self.body or [] if name is None or c.name == name]

    def child(self, name: str) -> Node:
        found = self.children(name)
        assert len(found) == 1, f"line {self.line}: expected one `{name}` in `{self.name}`, found {len(found)}"
        return found[0]

    def walk(self) -> Iterator[Node]:
        """This node and every node below it, in file order."""
        yield self
        for child in self.body or []:
            yield from child.walk()

    def ancestors(self) -> Iterator[Node]:
        node = self.parent
        while node is not None:
            yield node
            node = node.parent

    def text(self) -> str:
        return " ".join(t.text for t in self.head)

    def strings(self) -> list[Token]:
        return [t for t in self.head if t.kind == "str"]

    def calls(self, name: str) -> list[Arguments]:
        """The arguments of every call of `name` in this node's head: `name(...)` or `name args`."""
        found = []
        for index, token in enumerate(self.head):
            previous = self.head[index - 1] if index else None
            if (
                token.kind == "ident"
                and token.text == name
                and not (previous and previous.kind == "op" and previous.text == ".")
            ):
                rest = self.head[index + 1 :]
                if rest and rest[0].kind == "op" and rest[0].text == "(":
                    found.append(parse_arguments(_inside_parens(rest)))
                elif index == 0 and rest and rest[0].kind in ("str", "ident", "num"):
                    found.append(parse_arguments(rest))
        return found

    def stage_name(self) -> str:
        assert self.name == "stage" and self.strings(), f"line {self.line}: not a stage"
        return self.strings()[0].text


@dataclasses.dataclass
class Arguments:
    positional: list[Token]  #: the single-token positional arguments (a string, a name, a number)
    named: dict[str, list[Token]]  #: name -> the tokens of the value

    def string(self, name: str) -> Token | None:
        value = self.named.get(name)
        return value[0] if value and len(value) == 1 and value[0].kind == "str" else None

    def text(self, name: str) -> str:
        """The value of a named argument that must be one string literal."""
        token = self.string(name)
        assert token is not None, f"argument {name} is not one string literal"
        return token.text

    def literal(self, name: str) -> Any:
        """A named argument's value when it is one literal token: str, int, true/false."""
        value = self.named.get(name)
        if not value or len(value) != 1:
            return None
        token = value[0]
        if token.kind == "num":
            return int(token.text)
        if token.kind == "ident" and token.text in ("true", "false"):
            return token.text == "true"
        return token.text


def _inside_parens(tokens: list[Token]) -> list[Token]:
    depth = 0
    for index, token in enumerate(tokens):
        if token.kind == "op" and token.text in ("(", "["):
            depth += 1
        elif token.kind == "op" and token.text in (")", "]"):
            depth -= 1
            if depth == 0:
                return tokens[1:index]
    raise AssertionError(f"line {tokens[0].line}: unclosed parenthesis")


def parse_arguments(tokens: list[Token]) -> Arguments:
    """`a, key: value, key2: [x, y]` split at top-level commas."""
    parts: list[list[Token]] = [[]]
    depth = 0
    for token in tokens:
        if token.kind == "op" and token.text == "\n":
            continue
        if token.kind == "op" and token.text in ("(", "[", "{"):
            depth += 1
        elif token.kind == "op" and token.text in (")", "]", "}"):
            depth -= 1
        if token.kind == "op" and token.text == "," and depth == 0:
            parts.append([])
        else:
            parts[-1].append(token)
    positional, named = [], {}
    for part in parts:
        if len(part) >= 2 and part[0].kind in ("ident", "str") and part[1].kind == "op" and part[1].text == ":":
            named[part[0].text] = part[2:]
        elif len(part) == 1:
            positional.append(part[0])
    return Arguments(positional, named)


def parse(source: str) -> Node:
    """The file as a root block whose body holds its top-level statements and blocks."""
    tokens = tokenize(source)
    root = Node([], [])
    stack = [root]
    bodies: list[list[Node]] = [[]]
    root.body = bodies[0]
    head: list[Token] = []
    depth = 0  #: ( and [ nesting: line breaks inside do not end a statement

    def finish() -> None:
        if head:
            bodies[-1].append(Node(list(head), None, stack[-1]))
            head.clear()

    for token in tokens:
        if token.kind != "op":
            head.append(token)
        elif token.text == "{" and depth == 0:
            body: list[Node] = []
            node = Node(list(head), body, stack[-1])
            bodies[-1].append(node)
            stack.append(node)
            bodies.append(body)
            head.clear()
        elif token.text == "}" and depth == 0:
            finish()
            assert len(stack) > 1, f"line {token.line}: unbalanced }}"
            stack.pop()
            bodies.pop()
        elif token.text == "\n":
            if depth == 0 and head and not (head[-1].kind == "op" and head[-1].text in _CONTINUES):
                finish()
        elif token.text == ";" and depth == 0:
            finish()
        else:
            if token.text in ("(", "["):
                depth += 1
            elif token.text in (")", "]"):
                depth -= 1
                assert depth >= 0, f"line {token.line}: unbalanced {token.text}"
            head.append(token)
    finish()
    assert len(stack) == 1, f"unclosed block from line {stack[-1].line}"
    return root


def parse_file(path: Path) -> Node:
    return parse(path.read_text())


# --- declarative pipeline helpers -----------------------------------------------------------------------


def leaf_stages(root: Node) -> list[Node]:
    """The stages that run steps (not the ones that only group stages), in file order."""
    stages = [n for n in root.walk() if n.is_block and n.name == "stage"]
    return [s for s in stages if not s.children("stages") and not s.children("parallel")]


def sh_calls(node: Node) -> list[tuple[Node, Token, Arguments]]:
    """Every `sh` below `node`, in file order: (statement, script string token, arguments)."""
    found = []
    for statement in node.walk():
        for arguments in statement.calls("sh"):
            script = arguments.string("script") or (arguments.positional[0] if arguments.positional else None)
            assert script is not None and script.kind == "str", f"line {statement.line}: sh without a literal script"
            found.append((statement, script, arguments))
    return found


def in_post_condition(node: Node, *conditions: str) -> bool:
    """Whether `node` sits in a `post { <condition> { ... } }` block."""
    chain = list(node.ancestors())
    return any(a.name in conditions and a.parent is not None and a.parent.name == "post" for a in chain)
