"""One rule's CEL expression: compiled once, checked at admission, evaluated against a request.

The variables are ``request`` (name, roles, namespaces, duration as a CEL
duration, reason, labels, reviewers) and ``user`` (username, groups: the
requester). An evaluation gives True, False, or a one-line reason why it gave
neither (an error at run time, a value that is not a bool, or more time than
its budget).

What an expression may cost is kept in bounds twice: check() refuses, at
admission, the shapes whose cost grows with the product of the request's sizes
(comprehensions nested in or chained onto one another, large literals), and
every evaluation stops once it has run longer than its budget.
"""

from __future__ import annotations

import functools
import time
from collections.abc import Iterator, Mapping
from datetime import datetime, timezone
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import Evaluator as Interpreter

from gatepass.core.types import Identity, Request

VARIABLES = ("request", "user")
FIELDS = {
    "request": ("name", "roles", "namespaces", "duration", "reason", "labels", "reviewers"),
    "user": ("username", "groups"),
}

# Macros take a variable name or a field selection as an argument and are
# expanded by the evaluator; the others are celpy's standard functions.
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_FUNCTIONS = frozenset(name for name in celpy.base_functions if name.isidentifier()) | _BINDING_MACROS | {
    "has", "dyn"}

_ENVIRONMENT = celpy.Environment()

BUDGET = 1.0  # seconds one evaluation may take; one that takes longer counts as failing
MAX_LITERAL = 64  # elements of a list or map literal (a comprehension over one runs its body that often)

# check() evaluates an expression once on this request, to find one that never gives a bool.
_SAMPLE = Request(
    name="sample",
    requester=Identity("sample", frozenset({"system:authenticated"})),
    roles=("sample",),
    namespaces=("default",),
    reason="sample",
    suggested_reviewers=("sample",),
    labels=(("app", "sample"),),
    created=datetime(2000, 1, 1, tzinfo=timezone.utc),
)


def activation(request: Request) -> dict[str, Any]:
    """The CEL variables for `request`."""
    return {
        "request": json_to_cel({
            "name": request.name,
            "roles": list(request.roles),
            "namespaces": list(request.namespaces),
            "duration": request.duration,
            "reason": request.reason,
            "labels": dict(request.labels),
            "reviewers": list(request.suggested_reviewers),
        }),
        "user": json_to_cel({
            "username": request.requester.username,
            "groups": sorted(request.requester.groups),
        }),
    }


@functools.lru_cache(maxsize=1024)
def _program(expression: str) -> celpy.Runner:
    """The compiled expression (raises celpy.CELParseError); the same text is compiled once."""
    return _ENVIRONMENT.program(_ENVIRONMENT.compile(expression))


def evaluate(expression: str, variables: Mapping[str, Any], *, budget: float = BUDGET) -> bool | str:
    """True or False, or one line saying why `expression` gave neither: it stops once it has
    run for `budget` seconds."""
    try:
        runner = _program(expression)
        interpreter = _Bounded(runner.ast, runner.new_activation(), time.monotonic() + budget)
        result = interpreter.evaluate(dict(variables))
    except celpy.CELParseError as error:
        return _syntax_error(error)
    except celpy.CELEvalError as error:
        return _eval_error(error)
    except _OverBudget:
        return f"evaluation took longer than {budget:g} s"
    except Exception as error:  # celpy raises plain Python errors on some inputs
        return f"{type(error).__name__}: {error}".splitlines()[0]
    if isinstance(result, celpy.CELEvalError):
        return _eval_error(result)
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    return f"it gave {_type_name(result)}, not a bool"


def check(expression: str, *, budget: float = BUDGET) -> str | None:
    """Why `expression` cannot be a rule (one line), or None when it can.

    Refused: a syntax error, a variable other than request and user, a function
    celpy does not have, a comprehension (all, exists, exists_one, map, filter)
    within another's arguments or over another's result, a list or map literal
    of more than MAX_LITERAL elements, and an expression that gives no bool for
    a sample request, or takes longer than `budget` seconds on it. Errors that
    depend on the request (a missing label) are not refused: at run time they
    count as not holding. The limits are checked before the sample evaluation,
    so that check() itself stays quick.
    """
    try:
        tree = _program(expression).ast
    except celpy.CELParseError as error:
        return _syntax_error(error)
    unknown = sorted(_free_variables(tree) - set(VARIABLES))
    if unknown:
        return f"undeclared reference to {unknown[0]!r} (the variables are request and user)"
    for variable, field in sorted(_selected(tree)):
        if field not in FIELDS[variable]:
            return f"{variable} has no field {field!r} (it has {', '.join(FIELDS[variable])})"
    functions = sorted(_called(tree) - _FUNCTIONS)
    if functions:
        return f"unknown function {functions[0]!r}"
    costly = _too_costly(tree)
    if costly is not None:
        return costly
    result = evaluate(expression, activation(_SAMPLE), budget=budget)
    if isinstance(result, str) and result.startswith("it gave "):
        return f"the expression must give a bool: {result}"
    if isinstance(result, str) and result.startswith("evaluation took longer"):
        return f"{result} on a sample request"
    return None


# ------------------------------------------------------------------ details
class _OverBudget(Exception):
    """An evaluation ran past its deadline."""


class _Bounded(Interpreter):
    """celpy's interpreter, stopping once past `deadline` (time.monotonic()). It looks at the clock at every
    node it visits and every element a comprehension takes, so it stops soon after: only a single operation
    (one concatenation, one regular expression match) is not interrupted, and check()'s limits keep those
    small."""

    def __init__(self, ast: lark.Tree, activation: Any, deadline: float) -> None:
        super().__init__(ast, activation)
        self.deadline = deadline

    def sub_evaluator(self, ast: lark.Tree) -> Interpreter:  # a comprehension's body
        return _Bounded(ast, self.activation, self.deadline)

    def visit(self, tree: lark.Tree) -> Any:
        self._on_time()
        return super().visit(tree)

    def visit_children(self, tree: lark.Tree) -> list:
        self._on_time()
        return super().visit_children(tree)

    def _on_time(self) -> None:
        if time.monotonic() > self.deadline:
            raise _OverBudget()


def _too_costly(tree: lark.Tree) -> str | None:
    """Why evaluating the expression could cost too much, or None.

    A comprehension runs its body once per element. Within another's body it runs
    once per pair of elements (256 namespaces: 65,536 times); over another's
    result (a map of a map) the sizes multiply likewise, and a body that doubles a
    value doubles it again at every link. Both are refused, so an evaluation's cost
    is at most the expression's length times the request's size. Literals are
    limited because a comprehension may range over one."""
    for node in _walk(tree):
        if node.data in ("list_lit", "map_lit"):
            items = node.children[0] if node.children else None
            count = len(items.children) if isinstance(items, lark.Tree) else 0
            if node.data == "map_lit":
                count //= 2
            if count > MAX_LITERAL:
                kind = "list" if node.data == "list_lit" else "map"
                return f"a {kind} literal of {count} elements; at most {MAX_LITERAL} are allowed"
        outer = _comprehension(node)
        if outer is None:
            continue
        target, args = node.children[0], node.children[2]
        inner = _first_comprehension(args)
        if inner is not None:
            return f"{inner}() within {outer}(): comprehensions may not be nested or chained"
        inner = _first_comprehension(target)
        if inner is not None:
            return f"{outer}() over the result of {inner}(): comprehensions may not be nested or chained"
    return None


def _first_comprehension(tree: object) -> str | None:
    if not isinstance(tree, lark.Tree):
        return None
    return next((name for name in map(_comprehension, _walk(tree)) if name is not None), None)


def _comprehension(node: lark.Tree) -> str | None:
    """The macro's name when `node` is a comprehension (list.all(x, ...) and the like)."""
    if node.data == "member_dot_arg" and _token(node.children[1]) in _BINDING_MACROS:
        return str(node.children[1])
    return None


def _syntax_error(error: celpy.CELParseError) -> str:
    where = f" at line {error.line}, column {error.column}" if getattr(error, "line", None) else ""
    cause = error.__context__
    near = ""
    if isinstance(cause, lark.exceptions.UnexpectedCharacters):
        near = f": unexpected {cause.char!r}"
    elif isinstance(cause, lark.exceptions.UnexpectedToken):
        near = ": unexpected end of expression" if cause.token.type == "$END" else f": unexpected {cause.token!s}"
    elif isinstance(cause, lark.exceptions.UnexpectedEOF):
        near = ": unexpected end of expression"
    return f"syntax error{where}{near}"


def _eval_error(error: celpy.CELEvalError) -> str:
    message = str(error.args[0]) if error.args else "evaluation error"
    message = message.split(" (in activation", 1)[0]
    if len(error.args) >= 3 and isinstance(error.args[2], tuple) and error.args[2] and "undeclared" not in message:
        message += ": " + ", ".join(str(arg) for arg in error.args[2])
    tree = getattr(error, "tree", None)
    if tree is not None and not isinstance(tree, lark.Tree):
        message += f" (at {tree})"
    return message.splitlines()[0] if message else "evaluation error"


def _type_name(value: object) -> str:
    names = {celtypes.StringType: "a string", celtypes.IntType: "an int", celtypes.UintType: "a uint",
             celtypes.DoubleType: "a double", celtypes.ListType: "a list", celtypes.MapType: "a map",
             celtypes.DurationType: "a duration", celtypes.TimestampType: "a timestamp",
             celtypes.BytesType: "bytes"}
    if value is None:
        return "null"
    return next((name for kind, name in names.items() if isinstance(value, kind)), type(value).__name__)


def _token(node: object) -> str | None:
    return str(node) if isinstance(node, lark.Token) else None


def _free_variables(tree: lark.Tree) -> set[str]:
    """Names used as variables, less those a macro binds (x in list.all(x, ...))."""
    used: set[str] = set()
    bound: set[str] = set()
    for node in _walk(tree):
        if node.data == "ident":
            used.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and _token(node.children[1]) in _BINDING_MACROS:
            args = node.children[2]
            if isinstance(args, lark.Tree) and args.children:
                bound.update(name for name in _walk_idents(args.children[0]))
    return used - bound


def _walk_idents(tree: object) -> Iterator[str]:
    if isinstance(tree, lark.Tree):
        for node in _walk(tree):
            if node.data == "ident":
                yield str(node.children[0])


def _selected(tree: lark.Tree) -> set[tuple[str, str]]:
    """(variable, field) for every `request.x` and `user.x` in the expression."""
    found: set[tuple[str, str]] = set()
    for node in _walk(tree):
        if node.data == "member_dot":
            root = _variable(node.children[0])
            if root in FIELDS:
                found.add((root, str(node.children[1])))
    return found


def _variable(member: object) -> str | None:
    """The name, when `member` is a bare variable (member -> primary -> ident)."""
    node = member
    for data in ("member", "primary", "ident"):
        if not isinstance(node, lark.Tree) or node.data != data or len(node.children) != 1:
            return None
        node = node.children[0]
    return _token(node)


def _called(tree: lark.Tree) -> set[str]:
    """Names of the functions and methods called."""
    names: set[str] = set()
    for node in _walk(tree):
        if node.data in ("ident_arg", "dot_ident_arg"):
            names.add(str(node.children[0]))
        elif node.data == "member_dot_arg":
            names.add(str(node.children[1]))
    return names


def _walk(tree: lark.Tree) -> Iterator[lark.Tree]:
    stack = [tree]
    while stack:
        node = stack.pop()
        yield node
        stack.extend(child for child in node.children if isinstance(child, lark.Tree))
