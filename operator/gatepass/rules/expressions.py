"""One rule's CEL expression: compiled once, checked at admission, evaluated against a request.

The variables are ``request`` (name, roles, namespaces, resources, duration as
a CEL duration, reason, labels, reviewers) and ``user`` (username, groups: the
requester). An evaluation gives True, False, or a one-line reason why it gave
neither (an error at run time, a value that is not a bool, or more time than
its budget).

An Approve rule decides on facts the requester cannot set (TRUSTED): who asks
(``user``, stamped by admission) and what for (``request.roles``,
``request.namespaces``, ``request.resources``, ``request.duration``, which the
policy bounds and which are exactly what gets granted). Each of
``request.resources`` is a map with the API's keys (apiGroup, resource,
subresource, namespace, names, verbs; "" or [] when absent). The requester chooses the request's name, its
reason and its suggested reviewers, and sets its labels (and may change them
after filing): an Approve rule that read them would approve whoever typed the
right words, so check() refuses one that does, and an Approve rule is evaluated
without them (activation()), so that even a rule admitted before that check, or
one that slipped past it, cannot see them. A Deny rule may read everything.

What an expression may cost is kept in bounds twice: check() refuses, at
admission, the shapes whose cost grows with the product of the request's sizes
(comprehensions nested in or chained onto one another, large literals), and
every evaluation stops once it has run longer than its budget. check() also
refuses what cannot evaluate: an expression nested deeper than the evaluator
can follow (MAX_DEPTH), a part that reads nothing of the request and fails
(`1 / 0`, `int('x')`, a bad regular expression), and a type error or a value
that is not a bool on one of a few sample requests.
"""

from __future__ import annotations

import functools
import re
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import celpy
import lark
from celpy import celtypes
from celpy.adapter import json_to_cel
from celpy.evaluation import Evaluator as Interpreter

from gatepass.core.resources import Ask
from gatepass.core.types import Decision, Identity, Request

VARIABLES = ("request", "user")
FIELDS = {
    "request": ("name", "roles", "namespaces", "resources", "duration", "reason", "labels", "reviewers"),
    "user": ("username", "groups"),
}
#: What an Approve rule may read: what the requester cannot set.
TRUSTED = {
    "request": ("roles", "namespaces", "resources", "duration"),
    "user": ("username", "groups"),
}
#: What the requester sets, and an Approve rule therefore may not read.
REQUESTER_SET = tuple(f"{variable}.{field}" for variable, fields in FIELDS.items()
                      for field in fields if field not in TRUSTED[variable])

# Macros take a variable name or a field selection as an argument and are
# expanded by the evaluator; the others are celpy's standard functions.
_BINDING_MACROS = frozenset({"all", "exists", "exists_one", "map", "filter"})
_FUNCTIONS = frozenset(name for name in celpy.base_functions if name.isidentifier()) | _BINDING_MACROS | {
    "has", "dyn"}


@functools.cache
def _environment() -> celpy.Environment:
    """The CEL environment, made when the first expression is compiled (its parser takes a quarter of a
    second to build: the operator's start-up does not wait for it)."""
    return celpy.Environment()


def prepare() -> None:
    """Builds the CEL parser now, off the start-up's path (the operator does so in a thread once it has
    started), so that the first policy checked does not spend its webhook's time on it."""
    _environment()


BUDGET = 1.0  # seconds one evaluation may take; one that takes longer counts as failing
MAX_LITERAL = 64  # elements of a list or map literal (a comprehension over one runs its body that often)
# Levels of the syntax tree. The evaluator recurses once or twice per level, and Python stops at 1,000
# frames: 50 nested parentheses (about 10 levels each) or 300 chained operators (2 each) already fail.
MAX_DEPTH = 250
_SAMPLE_STRINGS = 64  # the string literals of an expression the sample requests use, at most


def activation(request: Request, decision: Decision = "Approve") -> dict[str, Any]:
    """The CEL variables a `decision` rule sees for `request`: a Deny rule sees all of FIELDS,
    an Approve rule only TRUSTED (what the requester cannot set)."""
    fields = FIELDS if decision == "Deny" else TRUSTED
    values = {
        "request": {
            "name": request.name,
            "roles": list(request.roles),
            "namespaces": list(request.namespaces),
            "resources": [ask.as_map() for ask in request.resources],
            "duration": request.duration,
            "reason": request.reason,
            "labels": dict(request.labels),
            "reviewers": list(request.suggested_reviewers),
        },
        "user": {
            "username": request.requester.username,
            "groups": sorted(request.requester.groups),
        },
    }
    return {variable: json_to_cel({field: values[variable][field] for field in fields[variable]})
            for variable in VARIABLES}


@functools.lru_cache(maxsize=1024)
def _program(expression: str) -> celpy.Runner:
    """The compiled expression (raises celpy.CELParseError); the same text is compiled once."""
    environment = _environment()
    return environment.program(environment.compile(expression))


def evaluate(expression: str, variables: Mapping[str, Any], *, budget: float = BUDGET) -> bool | str:
    """True or False, or one line saying why `expression` gave neither: it stops once it has
    run for `budget` seconds."""
    try:
        tree = _program(expression).ast
    except celpy.CELParseError as error:
        return _syntax_error(error)
    result = _evaluate(tree, variables, time.monotonic() + budget)
    if isinstance(result, _Failed):
        return result.message if result.kind != "budget" else f"evaluation took longer than {budget:g} s"
    if isinstance(result, celtypes.BoolType):
        return bool(result)
    return f"it gave {_type_name(result)}, not a bool"


def check(expression: str, *, decision: Decision = "Approve", budget: float = BUDGET) -> str | None:
    """Why `expression` cannot be the expression of a `decision` rule (one line), or None when it can.

    Refused, in this order, each before anything is evaluated:
      * a syntax error; an expression nested more than MAX_DEPTH levels deep;
      * a variable other than request and user, a field they do not have (`request.x`,
        `request['x']`), a comprehension variable named like one of them, a function
        celpy does not have;
      * a comprehension (all, exists, exists_one, map, filter) within another's arguments or
        over another's result, a list or map literal of more than MAX_LITERAL elements;
      * for an Approve rule, any use of what the requester sets (REQUESTER_SET), however it
        is reached: a field, an index, `has()`, a comprehension over it, `request` as a whole.
    Then, within `budget` seconds in all:
      * a part that reads neither variable and fails: it fails on every evaluation;
      * a type error, a value that is not a bool, or more than the time left, on any of three
        sample requests made to reach the expression's branches (its strings as labels,
        groups, roles and namespaces).
    Errors that depend on the request (a missing label, an index past the end, a label that is
    not a number) are not refused: at run time they count as not holding.
    """
    try:
        tree = _program(expression).ast
    except celpy.CELParseError as error:
        return _syntax_error(error)
    depth = _depth(tree)
    if depth > MAX_DEPTH:
        return (f"the expression is nested too deeply to evaluate: {depth} levels, at most {MAX_DEPTH} "
                "(a bracket or call takes about 10, an operator in a chain 2)")
    unknown = sorted(_free_variables(tree) - set(VARIABLES))
    if unknown:
        return f"undeclared reference to {unknown[0]!r} (the variables are request and user)"
    for variable, field in sorted(_selected(tree)):
        if field not in FIELDS[variable]:
            return f"{variable} has no field {field!r} (it has {', '.join(FIELDS[variable])})"
    shadowing = _shadowing(tree)
    if shadowing is not None:
        return shadowing
    functions = sorted(_called(tree) - _FUNCTIONS)
    if functions:
        return f"unknown function {functions[0]!r}"
    costly = _too_costly(tree)
    if costly is not None:
        return costly
    if decision != "Deny":
        untrusted = _untrusted(tree)
        if untrusted is not None:
            return untrusted
    deadline = time.monotonic() + budget
    closed = not _free_variables(tree)  # it reads neither variable: one evaluation says all
    constant = None if closed else _failing_constant(tree, expression, deadline, budget)
    if constant is not None:
        return constant
    for sample in _samples(tree)[:1] if closed else _samples(tree):
        result = _evaluate(tree, activation(sample, decision), deadline)
        if isinstance(result, _Failed):
            if result.kind == "budget":
                return f"evaluation took longer than {budget:g} s on a sample request"
            if closed:
                return f"`{_text(tree, expression)}` fails on every evaluation: {result.message}"
            if result.kind in ("type", "depth"):
                return f"{result.message} (on a sample request)"
        elif not isinstance(result, celtypes.BoolType):
            return f"the expression must give a bool: it gave {_type_name(result)}, not a bool"
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


@dataclass(frozen=True)
class _Failed:
    """Why an evaluation gave no value: `kind` is "type" (a type error: no operator or function for
    those types, which a request's values cannot change, as every field has one type), "data" (an
    error that depends on the values: a missing key, an index past the end, a failed conversion),
    "depth" (nested too deeply) or "budget" (out of time)."""

    kind: str
    message: str


def _evaluate(tree: lark.Tree, variables: Mapping[str, Any], deadline: float) -> Any:
    """The value of `tree` (the whole expression or a part of it) for `variables`, or _Failed."""
    interpreter = _Bounded(tree, _program("true").new_activation(), deadline)
    try:
        return interpreter.evaluate(dict(variables))
    except celpy.CELEvalError as error:
        return _Failed(*_describe(error))
    except _OverBudget:
        return _Failed("budget", "evaluation took longer than its budget")
    except RecursionError:
        return _Failed("depth", "the expression is nested too deeply to evaluate")
    except Exception as error:  # celpy raises plain Python errors on some inputs
        kind = "type" if isinstance(error, (TypeError, AttributeError)) else "data"
        return _Failed(kind, f"{type(error).__name__}: {error}".splitlines()[0])


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


_OPERATORS = {
    "addition_add": "+", "addition_sub": "-", "multiplication_mul": "*", "multiplication_div": "/",
    "multiplication_mod": "%", "relation_lt": "<", "relation_le": "<=", "relation_gt": ">", "relation_ge": ">=",
    "relation_eq": "==", "relation_ne": "!=", "relation_in": "in", "unary_neg": "-", "unary_not": "!",
}
_OVERLOAD = re.compile(r"found no matching overload for Token\('RULE', '(\w+)'\) applied to '\((.*?)\)'")
_CEL_TYPE = re.compile(r"<class 'celpy\.celtypes\.(\w+)'>")
# An error celpy holds as text in another: its message, its Python class, the start of its arguments.
_NESTED = re.compile(r"CELEvalError\(\*\(['\"](.*?)['\"], <class '(?:[\w.]+\.)?(\w+)'>, \(([^)]*)")


def _eval_error(error: celpy.CELEvalError) -> str:
    """One line for `error`, in CEL's terms."""
    return _describe(error)[1]


def _describe(error: celpy.CELEvalError) -> tuple[str, str]:
    """(kind, one line) for `error`: kind "type" for a type error, "data" for an error that depends on
    the values (see _Failed). celpy reports the errors of a comprehension's elements as a TypeError
    (no operator `or` for two errors) holding them as text: the first of those is said, and the kind
    is theirs."""
    message = str(error.args[0]) if error.args else "evaluation error"
    message = message.split(" (in activation", 1)[0]
    kind = "type" if len(error.args) > 1 and error.args[1] is TypeError else "data"
    if len(error.args) >= 3 and isinstance(error.args[2], tuple) and error.args[2] and "undeclared" not in message:
        message += ": " + ", ".join(arg.decode(errors="replace") if isinstance(arg, bytes) else str(arg)
                                    for arg in error.args[2])
    message = message.replace("\\", "")
    nested = [(_nested_text(text, value), cause) for text, cause, value in _NESTED.findall(message)]
    underneath = [text for text, cause in nested if cause != "TypeError"]
    if underneath:
        return "data", underneath[0]
    overload = _OVERLOAD.search(message)
    if overload:
        operator = _OPERATORS.get(overload.group(1), overload.group(1))
        types = [_cel_type_name(name) for name in _CEL_TYPE.findall(overload.group(2))]
        return "type", f"no operator {operator} for {' and '.join(types)}"
    if nested:
        return "type", nested[-1][0]
    tree = getattr(error, "tree", None)
    if tree is not None and not isinstance(tree, lark.Tree):
        message += f" (at {tree})"
    message = _CEL_TYPE.sub(lambda match: _cel_type_name(match.group(1)), message)
    message = message.removeprefix("return error for overflow: ")
    message = re.sub(r"\bfunction_(\w+)\(\)", r"\1()", message)  # celpy's name for CEL's size()
    return kind, message.splitlines()[0] if message else "evaluation error"


def _nested_text(text: str, value: str) -> str:
    """'no such key: env' from the text celpy made of a nested error ('no such key', "StringType('env'")."""
    text = text.removeprefix("return error for overflow").strip(": ")
    value = value.strip().removeprefix("b").strip("'\", ")
    value = value.removeprefix("StringType(").strip("'\"")
    return f"{text}: {value}" if text and value else text or value


def _cel_type_name(name: str) -> str:
    """'int' for celpy's IntType, 'duration' for DurationType."""
    return name.removesuffix("Type").lower() or name


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


# ------------------------------------------------------------------ the syntax tree
# A variable is named by `ident` (request) or `dot_ident` (.request, the same variable from the root scope).
_REFERENCES = ("ident", "dot_ident")
# Nodes that are a whole expression by themselves (an operator's node, like addition_add, holds only its
# left operand).
_WHOLE = frozenset({"expr", "conditionalor", "conditionaland", "relation", "addition", "multiplication", "unary",
                    "member", "primary"})


def _depth(tree: lark.Tree) -> int:
    """Levels of the syntax tree, counted without recursing."""
    deepest, stack = 0, [(tree, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in node.children if isinstance(child, lark.Tree))
    return deepest


def _free_variables(tree: lark.Tree) -> set[str]:
    """Names used as variables, less those a macro binds (x in list.all(x, ...))."""
    used: set[str] = set()
    bound: set[str] = set()
    for node in _walk(tree):
        if node.data in _REFERENCES:
            used.add(str(node.children[0]))
        elif node.data == "member_dot_arg" and _token(node.children[1]) in _BINDING_MACROS:
            name = _bound_name(node)
            if name is not None:
                bound.add(name)
    return used - bound


def _bound_name(node: lark.Tree) -> str | None:
    """The variable a comprehension (member_dot_arg of a macro) binds: x in list.all(x, ...)."""
    args = node.children[2]
    if isinstance(args, lark.Tree) and args.children:
        return _variable(args.children[0])
    return None


def _shadowing(tree: lark.Tree) -> str | None:
    """Why a comprehension's variable is refused: one named request or user would hide that variable."""
    for node in _walk(tree):
        if node.data == "member_dot_arg" and _token(node.children[1]) in _BINDING_MACROS:
            args = node.children[2]
            first = args.children[0] if isinstance(args, lark.Tree) and args.children else None
            names = set(_walk_references(first)) if isinstance(first, lark.Tree) else set()
            hidden = sorted(names & set(VARIABLES))
            if hidden:
                return (f"{node.children[1]}() may not name its variable {hidden[0]}: "
                        f"that would hide the variable {hidden[0]}")
    return None


def _walk_references(tree: lark.Tree) -> Iterator[str]:
    for node in _walk(tree):
        if node.data in _REFERENCES:
            yield str(node.children[0])


def _selected(tree: lark.Tree) -> set[tuple[str, str]]:
    """(variable, field) for every `request.x`, `request['x']` and `user.x` in the expression."""
    found: set[tuple[str, str]] = set()
    for node in _walk(tree):
        field = _field(node)
        if field is not None:
            found.add(field)
    return found


def _field(node: lark.Tree) -> tuple[str, str] | None:
    """(variable, field) when `node` selects a field of a variable by name: request.x or request['x']."""
    if node.data == "member_dot":
        root = _variable(node.children[0])
        if root in FIELDS:
            return root, str(node.children[1])
    elif node.data == "member_index":
        root, key = _variable(node.children[0]), _string(node.children[1])
        if root in FIELDS and key is not None:
            return root, key
    return None


def _variable(member: object) -> str | None:
    """The name, when `member` is a bare variable (member -> primary -> ident, or an expression
    that is only that, as a macro's first argument is)."""
    reference = _reference(member)
    return str(reference.children[0]) if reference is not None else None


def _reference(node: object) -> lark.Tree | None:
    """The ident or dot_ident node, when `node` is nothing but a variable (through single-child levels)."""
    while isinstance(node, lark.Tree):
        if node.data in _REFERENCES:
            return node
        if len(node.children) != 1 or node.data in ("list_lit", "map_lit"):
            return None
        node = node.children[0]
    return None


def _string(node: object) -> str | None:
    """The value, when `node` is nothing but a string literal."""
    while isinstance(node, lark.Tree):
        if node.data == "literal":
            token = node.children[0]
            if isinstance(token, lark.Token) and token.type in ("STRING_LIT", "MLSTRING_LIT"):
                value = _evaluate(node, {}, time.monotonic() + BUDGET)
                return str(value) if isinstance(value, celtypes.StringType) else None
            return None
        if len(node.children) != 1:
            return None
        node = node.children[0]
    return None


def _untrusted(tree: lark.Tree) -> str | None:
    """Why an Approve rule may not be `tree`: the first use of a variable that reaches what the
    requester sets (REQUESTER_SET). Every use of `request` must be a selection of a TRUSTED field
    by name (`request.roles`, `request['duration']`); anything else may reach the others, whatever
    the expression does with it afterwards (an alias, a comprehension, has(), dyn(), a map()), and
    is refused without following it. `user` holds only trusted fields and may be used as a whole."""
    trusted: set[int] = set()
    uses: dict[int, lark.Tree] = {}  # a reference's id -> the node that uses it (its parent, above the pass-through)
    for node in _walk(tree):
        field = _field(node)
        if field is not None:
            reference = _reference(node.children[0])
            if reference is not None:
                uses[id(reference)] = node
                if field[1] in TRUSTED[field[0]]:
                    trusted.add(id(reference))
        for child in node.children:
            reference = _reference(child) if isinstance(child, lark.Tree) else None
            if reference is not None:
                uses.setdefault(id(reference), node)
    for node in _walk(tree):
        if node.data not in _REFERENCES or id(node) in trusted:
            continue
        variable = str(node.children[0])
        if variable not in FIELDS or set(FIELDS[variable]) <= set(TRUSTED[variable]):
            continue
        use = _use(variable, uses.get(id(node)))
        sets = "it" if use.startswith(REQUESTER_SET) else _listed(REQUESTER_SET)
        return (f"an Approve rule may not read {use}: the requester sets {sets}; it may read only user, "
                f"{_listed(f'request.{field}' for field in TRUSTED['request'])} (a Deny rule may read anything)")
    return None


def _use(variable: str, node: lark.Tree | None) -> str:
    """How `node` uses `variable`, for messages: 'request.labels', "request['labels']", 'request as a whole'."""
    if node is not None and node.data in ("member_dot", "member_index"):
        field = _field(node)
        if field is not None:
            return f"{variable}.{field[1]}"
        if node.data == "member_index":
            return f"{variable}[...] (a field chosen by a computed key)"
    if node is not None and node.data == "member_dot_arg" and _reference(node.children[0]) is not None:
        return f"{variable}.{node.children[1]}() (over all its fields)"
    return f"{variable} as a whole"


def _listed(items) -> str:
    """'a, b and c'."""
    items = list(items)
    return ", ".join(items[:-1]) + f" and {items[-1]}" if len(items) > 1 else "".join(items)


def _failing_constant(tree: lark.Tree, expression: str, deadline: float, budget: float) -> str | None:
    """Why a part of the expression that reads neither variable fails whatever the request:
    `1 / 0`, `int('x')`, `'a'.matches('[')`, `1 + 'a'`, or a regular expression given as a literal
    does not compile (`n.matches('[a-z')`). Each largest such part is evaluated once."""
    stack = [tree]
    while stack:
        node = stack.pop()
        pattern = _pattern(node)
        if pattern is not None:
            result = _evaluate(_program("''.matches(pattern)").ast, {"pattern": celtypes.StringType(pattern)},
                               deadline)
            if isinstance(result, _Failed):
                return f"invalid regular expression {pattern!r}: {result.message.removeprefix('match error: ')}"
        if node.data in _WHOLE and not _free_variables(node):
            result = _evaluate(node, {}, deadline)
            if isinstance(result, _Failed):
                if result.kind == "budget":
                    return f"evaluation took longer than {budget:g} s on a sample request"
                return f"`{_text(node, expression)}` fails on every evaluation: {result.message}"
            continue
        stack.extend(reversed([child for child in node.children if isinstance(child, lark.Tree)]))
    return None


def _pattern(node: lark.Tree) -> str | None:
    """The pattern of `x.matches('...')` or `matches(x, '...')`, when it is a string literal."""
    args = None
    if node.data == "member_dot_arg" and _token(node.children[1]) == "matches":
        args = node.children[2]
    elif node.data == "ident_arg" and _token(node.children[0]) == "matches" and len(node.children) > 1:
        args = node.children[1]
        args = lark.Tree("exprlist", args.children[1:]) if isinstance(args, lark.Tree) else None
    if not isinstance(args, lark.Tree) or len(args.children) != 1:
        return None
    return _string(args.children[0])


def _text(node: lark.Tree, expression: str) -> str:
    meta = node.meta
    if getattr(meta, "empty", True):
        return expression
    text = expression[meta.start_pos:meta.end_pos]
    return text if len(text) <= 80 else text[:77] + "..."


def _strings(tree: lark.Tree) -> list[str]:
    """The string literals and the names selected (x.name) in the expression, in order, without repeats."""
    found: dict[str, None] = {}
    for node in _walk(tree):
        if node.data == "member_dot":
            found.setdefault(str(node.children[1]), None)
        elif node.data == "literal":
            value = _string(node)
            if value is not None:
                found.setdefault(value, None)
    return list(found)[:_SAMPLE_STRINGS]


def _samples(tree: lark.Tree) -> tuple[Request, ...]:
    """Three requests to try the expression on: a small one; one whose labels, groups, roles and
    namespaces hold every string the expression names (so that `'oncall' in user.groups && ...` and
    `has(request.labels.env) && ...` go on past the test); and a cluster-wide one."""
    strings = tuple(s for s in _strings(tree) if s)
    created = datetime(2000, 1, 1, tzinfo=timezone.utc)
    small = Request(name="sample", requester=Identity("sample", frozenset({"system:authenticated"})),
                    roles=("sample",), namespaces=("default",), reason="sample", created=created)
    rich = Request(name="sample", requester=Identity("sample", frozenset({"system:authenticated", *strings})),
                   roles=("sample", *strings), namespaces=("default", *strings), reason=" ".join(strings) or "sample",
                   suggested_reviewers=("sample", *strings), labels=tuple(sorted((s, s) for s in strings)),
                   resources=(Ask("pods", ("get", *strings), subresource="log", namespace="default",
                                  names=("sample", *strings)),
                              Ask(strings[0] if strings else "nodes", ("list",), api_group="sample")),
                   duration=timedelta(hours=8), created=created)
    cluster_wide = Request(name="sample", requester=Identity("sample", frozenset({"system:authenticated"})),
                           roles=("sample", "sample-2"), labels=(("app", "sample"),),
                           duration=timedelta(minutes=5), created=created)
    return small, rich, cluster_wide


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
