"""A small, safe expression language for edge conditions.

Expressions use Python syntax but only a whitelist of it: literals, names
(memory keys; a key that is not set reads as ``None``), ``and``/``or``/``not``,
comparisons including ``in`` and ``is``, arithmetic without ``**``, indexing,
``x if c else y`` and a few pure functions. Attribute access, lambdas,
comprehensions and every other construct are refused when the graph loads.
The tree is walked by our own evaluator; nothing is ever passed to ``eval``.
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from hive_mcp.errors import ExpressionError

__all__ = ["ALLOWED_FUNCTIONS", "Expression", "compile_expression"]

ALLOWED_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "len": len,
    "abs": abs,
    "min": min,
    "max": max,
    "int": int,
    "float": float,
    "str": str,
    "bool": bool,
    "round": round,
    "lower": lambda s: str(s).lower(),
    "upper": lambda s: str(s).upper(),
}

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.Not: operator.not_,
    ast.USub: operator.neg,
    ast.UAdd: operator.pos,
}
_COMPARE: dict[type[ast.cmpop], Callable[[Any, Any], Any]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
    ast.In: lambda a, b: a in b,
    ast.NotIn: lambda a, b: a not in b,
    ast.Is: operator.is_,
    ast.IsNot: operator.is_not,
}
_MAX_REPEAT = 10_000  # bounds "x" * n so a condition cannot exhaust memory

_ALLOWED_SYNTAX = (
    "literals, memory keys, and/or/not, comparisons (== != < <= > >= in is), "
    "+ - * / // %, indexing like x[0] or x['k'], 'a if c else b', and the functions "
    + ", ".join(sorted(ALLOWED_FUNCTIONS))
)


@dataclass(frozen=True, slots=True)
class Expression:
    """A checked condition, ready to evaluate against shared memory."""

    source: str
    tree: ast.expr
    names: frozenset[str]

    def evaluate(self, memory: Mapping[str, Any]) -> Any:
        """Evaluate against ``memory``; raise ``ExpressionError`` on a run-time error."""
        try:
            return _eval(self.tree, memory)
        except ExpressionError:
            raise
        except Exception as exc:
            raise ExpressionError(
                f"condition {self.source!r} failed: {type(exc).__name__}: {exc}"
            ) from exc

    def is_true(self, memory: Mapping[str, Any]) -> bool:
        """Evaluate and take the truth of the result."""
        return bool(self.evaluate(memory))


def compile_expression(source: str) -> Expression:
    """Parse and check ``source``; raise ``ExpressionError`` saying what is wrong."""
    try:
        tree = ast.parse(source.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExpressionError(
            f"condition {source!r} does not parse: {exc.msg} at column {exc.offset}"
        ) from None
    names: set[str] = set()
    for node in ast.walk(tree.body):
        _check(node, source, names)
    return Expression(source=source, tree=tree.body, names=frozenset(names))


def _refuse(source: str, what: str) -> ExpressionError:
    return ExpressionError(
        f"condition {source!r} uses {what}, which conditions do not allow. "
        f"Allowed: {_ALLOWED_SYNTAX}."
    )


def _check(node: ast.AST, source: str, names: set[str]) -> None:
    match node:
        case ast.Constant(value=value):
            if not isinstance(value, str | int | float | bool | None):
                raise _refuse(source, f"the literal {value!r}")
        case ast.Name(id=name):
            if name not in ALLOWED_FUNCTIONS:
                names.add(name)
        case ast.Call(func=func, args=args, keywords=keywords):
            if not isinstance(func, ast.Name) or func.id not in ALLOWED_FUNCTIONS:
                raise _refuse(source, f"a call to {ast.unparse(func)!r}")
            if keywords or any(isinstance(a, ast.Starred) for a in args):
                raise _refuse(source, "keyword or * arguments")
        case ast.BinOp(op=op) if type(op) not in _BINARY:
            raise _refuse(source, f"the operator {type(op).__name__}")
        case ast.UnaryOp(op=op) if type(op) not in _UNARY:
            raise _refuse(source, f"the operator {type(op).__name__}")
        case ast.Dict(keys=keys) if any(k is None for k in keys):
            raise _refuse(source, "** unpacking")
        case ast.Attribute(attr=attr):
            raise _refuse(source, f"attribute access ('.{attr}')")
        case (
            ast.BoolOp()
            | ast.BinOp()
            | ast.UnaryOp()
            | ast.Compare()
            | ast.IfExp()
            | ast.Subscript()
            | ast.Slice()
            | ast.List()
            | ast.Tuple()
            | ast.Dict()
            | ast.Load()
            | ast.boolop()
            | ast.cmpop()
            | ast.operator()
            | ast.unaryop()
        ):
            pass
        case _:
            raise _refuse(source, f"{type(node).__name__} syntax")


def _eval(node: ast.expr, memory: Mapping[str, Any]) -> Any:
    match node:
        case ast.Constant(value=value):
            return value
        case ast.Name(id=name):
            return memory.get(name)
        case ast.BoolOp(op=ast.And(), values=values):
            result: Any = True
            for value_node in values:
                result = _eval(value_node, memory)
                if not result:
                    return result
            return result
        case ast.BoolOp(values=values):  # Or
            result = False
            for value_node in values:
                result = _eval(value_node, memory)
                if result:
                    return result
            return result
        case ast.UnaryOp(op=op, operand=operand):
            return _UNARY[type(op)](_eval(operand, memory))
        case ast.BinOp(left=left, op=op, right=right):
            a, b = _eval(left, memory), _eval(right, memory)
            if isinstance(op, ast.Mult) and _too_large_repeat(a, b):
                raise ExpressionError(f"repeating a sequence more than {_MAX_REPEAT} times")
            return _BINARY[type(op)](a, b)
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            current = _eval(left, memory)
            for cmp, right_node in zip(ops, comparators, strict=True):
                right = _eval(right_node, memory)
                if not _COMPARE[type(cmp)](current, right):
                    return False
                current = right
            return True
        case ast.IfExp(test=test, body=body, orelse=orelse):
            return _eval(body, memory) if _eval(test, memory) else _eval(orelse, memory)
        case ast.Subscript(value=value, slice=index):
            return _eval(value, memory)[_eval(index, memory)]
        case ast.Slice(lower=lower, upper=upper, step=step):
            return slice(
                *(None if part is None else _eval(part, memory) for part in (lower, upper, step))
            )
        case ast.List(elts=elts):
            return [_eval(e, memory) for e in elts]
        case ast.Tuple(elts=elts):
            return tuple(_eval(e, memory) for e in elts)
        case ast.Dict(keys=keys, values=values):
            return {
                _eval(k, memory): _eval(v, memory)
                for k, v in zip(keys, values, strict=True)
                if k is not None
            }
        case ast.Call(func=ast.Name(id=name), args=args):
            return ALLOWED_FUNCTIONS[name](*(_eval(a, memory) for a in args))
    raise ExpressionError(f"cannot evaluate {ast.unparse(node)!r}")  # unreachable after _check


def _too_large_repeat(a: Any, b: Any) -> bool:
    for seq, count in ((a, b), (b, a)):
        if isinstance(seq, str | list | tuple) and isinstance(count, int) and count > _MAX_REPEAT:
            return True
    return False
