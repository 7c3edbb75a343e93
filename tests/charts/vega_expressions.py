"""Evaluate the Vega expressions that the charts embed, in Python, for the unit tests.

The subset the charts use: numbers, strings in single quotes, names (parameters, and
``datum.field``), ``+ - * / %``, comparisons, ``== != === !==``, ``&& || !``, the ternary
``a ? b : c``, array literals and indexing ``[a, b][i]``, and the functions ``abs``,
``sqrt``, ``pow``, ``log`` (natural), ``exp``, ``min``, ``max``, ``floor``, ``round``,
``isFinite``, ``isValid``. Arithmetic follows JavaScript where it differs from Python:
division by zero gives an infinity or NaN, ``&&``/``||`` return an operand.

A charts' expression evaluated here and its Python twin must agree; the browser tests then
check that Vega, in the page, shows the same numbers.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from typing import Any

_TOKEN = re.compile(
    r"\s*(?:(?P<num>\d+\.\d*(?:[eE][-+]?\d+)?|\.\d+(?:[eE][-+]?\d+)?|\d+(?:[eE][-+]?\d+)?)"
    r"|(?P<str>'[^']*')|(?P<name>[A-Za-z_$][\w$]*)"
    r"|(?P<op>===|!==|==|!=|<=|>=|&&|\|\||[-+*/%<>!?:(),.\[\]]))"
)


def _div(a: float, b: float) -> float:
    if b == 0:
        if a == 0 or math.isnan(a):
            return math.nan
        return math.copysign(math.inf, a) * math.copysign(1.0, b)
    return a / b


def _round(x: float) -> float:
    return float(math.floor(x + 0.5))


FUNCTIONS: dict[str, Any] = {
    "abs": abs,
    "sqrt": lambda x: math.sqrt(x) if x >= 0 else math.nan,
    "pow": lambda x, y: _pow(x, y),
    "log": lambda x: math.log(x) if x > 0 else (-math.inf if x == 0 else math.nan),
    "exp": lambda x: math.exp(x) if x < 709.7 else math.inf,
    "min": min,
    "max": max,
    "floor": lambda x: float(math.floor(x)),
    "round": _round,
    "isFinite": lambda x: isinstance(x, (int, float)) and math.isfinite(x),
    "isValid": lambda x: x is not None and not (isinstance(x, float) and math.isnan(x)),
}


def _pow(x: float, y: float) -> float:
    try:
        return math.pow(x, y)
    except OverflowError:
        if x < 0 and float(y).is_integer() and int(y) % 2 == 1:
            return -math.inf
        return math.inf
    except ValueError:
        return math.nan


class _Parser:
    def __init__(self, text: str, env: Mapping[str, Any]) -> None:
        self.tokens: list[tuple[str, str]] = []
        pos = 0
        text = text.strip()
        while pos < len(text):
            m = _TOKEN.match(text, pos)
            if not m or m.end() == pos:
                raise SyntaxError(f"cannot read the expression at {text[pos:pos + 20]!r}")
            kind = m.lastgroup
            assert kind is not None
            self.tokens.append((kind, m.group(kind)))
            pos = m.end()
            while pos < len(text) and text[pos].isspace():
                pos += 1
        self.i = 0
        self.env = env

    def peek(self) -> str | None:
        return self.tokens[self.i][1] if self.i < len(self.tokens) else None

    def take(self, want: str | None = None) -> tuple[str, str]:
        if self.i >= len(self.tokens):
            raise SyntaxError("unexpected end of the expression")
        tok = self.tokens[self.i]
        if want is not None and tok[1] != want:
            raise SyntaxError(f"expected {want!r}, got {tok[1]!r}")
        self.i += 1
        return tok

    def parse(self) -> Any:
        value = self.ternary()
        if self.i != len(self.tokens):
            raise SyntaxError(f"unexpected {self.peek()!r}")
        return value

    def ternary(self) -> Any:
        cond = self.binary(0)
        if self.peek() == "?":
            self.take("?")
            yes = self.ternary()
            self.take(":")
            no = self.ternary()
            return yes if _truthy(cond) else no
        return cond

    LEVELS: tuple[tuple[str, ...], ...] = (
        ("||",), ("&&",), ("==", "!=", "===", "!=="), ("<", ">", "<=", ">="), ("+", "-"),
        ("*", "/", "%"),
    )

    def binary(self, level: int) -> Any:
        if level == len(self.LEVELS):
            return self.unary()
        left = self.binary(level + 1)
        while self.peek() in self.LEVELS[level]:
            op = self.take()[1]
            right = self.binary(level + 1)
            left = _apply(op, left, right)
        return left

    def unary(self) -> Any:
        if self.peek() in ("-", "+", "!"):
            op = self.take()[1]
            value = self.unary()
            if op == "-":
                return -value
            if op == "!":
                return not _truthy(value)
            return +value
        return self.postfix()

    def postfix(self) -> Any:
        value = self.primary()
        while self.peek() in ("[", "."):
            if self.take()[1] == "[":
                index = self.ternary()
                self.take("]")
                value = value[int(index)]
            else:
                value = value[self.take()[1]]
        return value

    def primary(self) -> Any:
        kind, text = self.take()
        if kind == "num":
            return float(text)
        if kind == "str":
            return text[1:-1]
        if text == "(":
            value = self.ternary()
            self.take(")")
            return value
        if text == "[":
            items = []
            while self.peek() != "]":
                items.append(self.ternary())
                if self.peek() == ",":
                    self.take(",")
            self.take("]")
            return items
        if kind == "name":
            if text in ("true", "false"):
                return text == "true"
            if text == "null":
                return None
            if self.peek() == "(":
                self.take("(")
                args = []
                while self.peek() != ")":
                    args.append(self.ternary())
                    if self.peek() == ",":
                        self.take(",")
                self.take(")")
                if text not in FUNCTIONS:
                    raise NameError(f"function {text!r} is not in the tested subset")
                return FUNCTIONS[text](*args)
            if text not in self.env:
                raise NameError(f"the expression uses {text!r}, which the test did not give")
            return self.env[text]
        raise SyntaxError(f"unexpected {text!r}")


def _truthy(value: Any) -> bool:
    if isinstance(value, float) and math.isnan(value):
        return False
    return bool(value)


def _apply(op: str, a: Any, b: Any) -> Any:
    if op == "||":
        return a if _truthy(a) else b
    if op == "&&":
        return b if _truthy(a) else a
    if op in ("==", "==="):
        return a == b
    if op in ("!=", "!=="):
        return a != b
    if op == "+" and (isinstance(a, str) or isinstance(b, str)):
        return f"{a}{b}"
    a_num, b_num = float(a), float(b)
    if op == "<":
        return a_num < b_num
    if op == ">":
        return a_num > b_num
    if op == "<=":
        return a_num <= b_num
    if op == ">=":
        return a_num >= b_num
    if op == "+":
        return a_num + b_num
    if op == "-":
        return a_num - b_num
    if op == "*":
        return a_num * b_num
    if op == "/":
        return _div(a_num, b_num)
    if op == "%":
        return math.fmod(a_num, b_num) if b_num != 0 else math.nan
    raise SyntaxError(f"unknown operator {op!r}")  # pragma: no cover


def evaluate(expression: str, env: Mapping[str, Any]) -> Any:
    """Value of a Vega expression with the names in ``env`` (parameters, ``datum``).

    Examples
    --------
    >>> evaluate("2 * abs(r) / B", {"r": -3, "B": 4})
    1.5
    >>> evaluate("opt == 'sgd' && lr > 2 / (rho + 1) ? 'diverges' : 'ok'",
    ...          {"opt": "sgd", "lr": 0.5, "rho": 9})
    'diverges'
    """
    return _Parser(expression, env).parse()
