"""A small, safe filter language for the runs table — parsed by hand, never ``eval``-ed.

::

    lr < 1e-3 and val/acc > 0.9
    optimizer == "adam" or not (epochs >= 10)
    config.model.depth in (12, 24) and "baseline" in tags
    name ~ "resnet"            # ~ : case-insensitive substring (or membership for lists)

Grammar (keywords are case-insensitive)::

    expr    := and ("or" and)*
    and     := not ("and" not)*
    not     := "not" not | atom
    atom    := "(" expr ")" | value [op value | "in" (list | value)]
    op      := < <= > >= == = != ~ !~
    value   := number | 'string' | "string" | true | false | null | field
    field   := name made of letters, digits and _ . / - (not starting with a digit or -),
               or any text in `backquotes`

A field is looked up by the caller's resolver (see ``catalog.py``). A comparison with a missing
field is false, except ``== null`` and ``!=``. Nothing here touches I/O.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from localtrack.errors import UsageError

MISSING = object()
Resolver = Callable[[str], Any]

_TOKEN_RE = re.compile(
    r"""
    (?P<ws>\s+)
  | (?P<num>[-+]?(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?(?![A-Za-z_]))
  | (?P<str>"(?:[^"\\]|\\.)*"|'(?:[^'\\]|\\.)*')
  | (?P<quoted>`[^`]*`)
  | (?P<op><=|>=|==|!=|!~|<|>|=|~)
  | (?P<punct>[(),])
  | (?P<name>[A-Za-z_][A-Za-z0-9_./\-]*)
    """,
    re.VERBOSE,
)
_KEYWORDS = {"and", "or", "not", "in", "true", "false", "null", "none"}
_CONSTANTS = {"true": True, "false": False, "null": None, "none": None}


class QueryError(UsageError):
    """The filter expression cannot be parsed; the message says where and why."""


@dataclass(frozen=True)
class Token:
    kind: str  # num, str, name, op, punct, kw, end
    text: str
    pos: int
    value: Any = None


@dataclass(frozen=True)
class Field:
    name: str


@dataclass(frozen=True)
class Const:
    value: Any


@dataclass(frozen=True)
class Compare:
    op: str
    left: Any
    right: Any


@dataclass(frozen=True)
class Truthy:
    operand: Any


@dataclass(frozen=True)
class BoolOp:
    op: str  # and / or
    parts: tuple[Any, ...]


@dataclass(frozen=True)
class Not:
    operand: Any


def tokenize(text: str) -> list[Token]:
    """Split an expression into tokens; QueryError on a character that fits no token."""
    tokens: list[Token] = []
    pos = 0
    while pos < len(text):
        match = _TOKEN_RE.match(text, pos)
        if match is None:
            raise QueryError(
                f"unexpected character {text[pos]!r} at column {pos + 1} of the filter"
            )
        kind = match.lastgroup or ""
        raw = match.group()
        if kind == "num":
            tokens.append(Token("num", raw, pos, float(raw)))
        elif kind == "str":
            tokens.append(Token("str", raw, pos, _unquote(raw)))
        elif kind == "quoted":
            tokens.append(Token("name", raw, pos, raw[1:-1]))
        elif kind == "name":
            low = raw.lower()
            kind = "kw" if low in _KEYWORDS else "name"
            tokens.append(Token(kind, raw, pos, low if kind == "kw" else raw))
        elif kind != "ws":
            tokens.append(Token(kind, raw, pos, raw))
        pos = match.end()
    tokens.append(Token("end", "", len(text)))
    return tokens


def _unquote(raw: str) -> str:
    body = raw[1:-1]
    return re.sub(r"\\(.)", r"\1", body)


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = tokenize(text)
        self.i = 0

    @property
    def tok(self) -> Token:
        return self.tokens[self.i]

    def take(self) -> Token:
        token = self.tokens[self.i]
        self.i += 1
        return token

    def fail(self, expected: str) -> QueryError:
        found = "the end" if self.tok.kind == "end" else repr(self.tok.text)
        return QueryError(f"expected {expected} at column {self.tok.pos + 1}, found {found}")

    def is_kw(self, word: str) -> bool:
        return self.tok.kind == "kw" and self.tok.value == word

    def parse(self) -> Any:
        node = self.expr()
        if self.tok.kind != "end":
            raise self.fail("'and', 'or' or the end of the filter")
        return node

    def expr(self) -> Any:
        return self._chain("or", self.conj)

    def conj(self) -> Any:
        return self._chain("and", self.negation)

    def _chain(self, word: str, sub: Callable[[], Any]) -> Any:
        parts = [sub()]
        while self.is_kw(word):
            self.take()
            parts.append(sub())
        return parts[0] if len(parts) == 1 else BoolOp(word, tuple(parts))

    def negation(self) -> Any:
        if self.is_kw("not"):
            self.take()
            return Not(self.negation())
        return self.atom()

    def atom(self) -> Any:
        if self.tok.kind == "punct" and self.tok.text == "(":
            self.take()
            node = self.expr()
            if not (self.tok.kind == "punct" and self.tok.text == ")"):
                raise self.fail("')'")
            self.take()
            return node
        left = self.value()
        if self.tok.kind == "op":
            op = self.take().text
            return Compare("==" if op == "=" else op, left, self.value())
        if self.is_kw("in"):
            self.take()
            return Compare("in", left, self.in_target())
        if isinstance(left, Field):
            return Truthy(left)
        raise self.fail("a comparison operator (< <= > >= == != ~ in)")

    def in_target(self) -> Any:
        if not (self.tok.kind == "punct" and self.tok.text == "("):
            return self.value()
        self.take()
        items = [self.value()]
        while self.tok.kind == "punct" and self.tok.text == ",":
            self.take()
            items.append(self.value())
        if not (self.tok.kind == "punct" and self.tok.text == ")"):
            raise self.fail("',' or ')'")
        self.take()
        if any(isinstance(item, Field) for item in items):
            raise QueryError(
                "a list after 'in' may hold only numbers, strings, true, false or null"
            )
        return Const(tuple(item.value for item in items))

    def value(self) -> Any:
        token = self.tok
        if token.kind in ("num", "str"):
            self.take()
            return Const(token.value)
        if token.kind == "name":
            self.take()
            return Field(token.value)
        if token.kind == "kw" and token.value in _CONSTANTS:
            self.take()
            return Const(_CONSTANTS[token.value])
        raise self.fail("a field name, number or quoted string")


def parse(text: str) -> Any:
    """Parse a filter expression into a tree; QueryError (a UsageError) when malformed."""
    if len(text) > 2000:
        raise QueryError("the filter is longer than 2000 characters")
    return _Parser(text).parse()


def fields_of(node: Any) -> set[str]:
    """Every field name an expression refers to."""
    if isinstance(node, Field):
        return {node.name}
    if isinstance(node, Compare):
        return fields_of(node.left) | fields_of(node.right)
    if isinstance(node, (Truthy, Not)):
        return fields_of(node.operand)
    if isinstance(node, BoolOp):
        return set().union(*(fields_of(p) for p in node.parts))
    return set()


def evaluate(node: Any, resolve: Resolver) -> bool:
    """Whether a run (seen through `resolve`, which returns MISSING for unknown fields) matches."""
    if isinstance(node, BoolOp):
        if node.op == "and":
            return all(evaluate(p, resolve) for p in node.parts)
        return any(evaluate(p, resolve) for p in node.parts)
    if isinstance(node, Not):
        return not evaluate(node.operand, resolve)
    if isinstance(node, Truthy):
        value = resolve(node.operand.name)
        return value is not MISSING and bool(value)
    left, right = _operand(node.left, resolve), _operand(node.right, resolve)
    return compare(node.op, left, right)


def _operand(node: Any, resolve: Resolver) -> Any:
    return resolve(node.name) if isinstance(node, Field) else node.value


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float))


def compare(op: str, left: Any, right: Any) -> bool:
    """Apply one comparison with the language's rules for missing and mixed-type values."""
    if op == "in":
        return _contains(right, left)
    if op in ("~", "!~"):
        found = left is not MISSING and right is not MISSING and _contains(left, right)
        return found if op == "~" else not found
    left = None if left is MISSING else left
    right = None if right is MISSING else right
    if op in ("==", "!="):
        equal = _equal(left, right)
        return equal if op == "==" else not equal
    if _is_number(left) and _is_number(right):
        pair: tuple[Any, Any] = (left, right)
    elif isinstance(left, str) and isinstance(right, str):
        pair = (left.lower(), right.lower())
    else:
        return False
    a, b = pair
    return {"<": a < b, "<=": a <= b, ">": a > b, ">=": a >= b}[op]


def _equal(left: Any, right: Any) -> bool:
    if _is_number(left) and _is_number(right):
        return bool(left == right)
    if isinstance(left, str) and isinstance(right, str):
        return left.lower() == right.lower()
    if isinstance(left, (list, tuple)) and not isinstance(right, (list, tuple)):
        return False
    return bool(left == right)


def _contains(container: Any, item: Any) -> bool:
    if container is MISSING or item is MISSING or container is None:
        return False
    if isinstance(container, str):
        return isinstance(item, (str, int, float)) and str(item).lower() in container.lower()
    if isinstance(container, (list, tuple, Sequence)):
        return any(_equal(member, item) for member in container)
    return False
