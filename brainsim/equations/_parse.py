"""Brian-style model strings -> sympy.

Three kinds of lines make a model::

    dv/dt = (El - v) / tau : volt (unless refractory)   # differential equation
    I_leak = gl * (El - v) : amp                        # subexpression
    tau : second                                        # parameter

Expressions are parsed with Python's ``ast`` and converted node by node to
sympy, so no user text is ever evaluated and names such as ``E``, ``I`` or
``beta`` stay plain symbols (``sympy.sympify`` would read them as constants).
"""
from __future__ import annotations

import ast
import re
from dataclasses import dataclass, field
from typing import Any

import sympy

__all__ = ["Equation", "Equations", "parse_expression", "parse_statements", "FUNCTIONS",
           "clip", "exprel"]

FLAGS = ("unless refractory", "constant", "event-driven", "clock-driven")


class clip(sympy.Function):
    """``clip(x, low, high)``: ``x`` limited to ``[low, high]``."""
    nargs = 3


class exprel(sympy.Function):
    """``(exp(x) - 1) / x``, 1 at ``x = 0``."""
    nargs = 1


#: Functions a model string may call without a namespace, as sympy functions.
FUNCTIONS: dict[str, Any] = {
    "exp": sympy.exp, "log": sympy.log, "sqrt": sympy.sqrt, "sin": sympy.sin,
    "cos": sympy.cos, "tan": sympy.tan, "sinh": sympy.sinh, "cosh": sympy.cosh,
    "tanh": sympy.tanh, "arcsin": sympy.asin, "arccos": sympy.acos, "arctan": sympy.atan,
    "abs": sympy.Abs, "sign": sympy.sign, "floor": sympy.floor, "ceil": sympy.ceiling,
    "clip": clip, "exprel": exprel,
    "log10": lambda x: sympy.log(x, 10),
}

_BINOPS = {
    ast.Add: lambda a, b: a + b, ast.Sub: lambda a, b: a - b, ast.Mult: lambda a, b: a * b,
    ast.Div: lambda a, b: a / b, ast.Pow: lambda a, b: a ** b,
    ast.Mod: lambda a, b: sympy.Mod(a, b),
}
_COMPARE = {ast.Gt: sympy.Gt, ast.GtE: sympy.Ge, ast.Lt: sympy.Lt, ast.LtE: sympy.Le,
            ast.Eq: sympy.Eq, ast.NotEq: sympy.Ne}


def _symbol(name: str) -> sympy.Symbol:
    return sympy.Symbol(name, real=True)


def _number(x: Any) -> Any:
    """A condition used in arithmetic counts as 1 where true and 0 elsewhere."""
    if isinstance(x, sympy.logic.boolalg.Boolean) and not isinstance(x, sympy.Symbol):
        return sympy.Piecewise((1, x), (0, True))
    return x


class _Converter:
    def __init__(self, text: str, functions: dict[str, Any]):
        self.text, self.functions = text, functions

    def bad(self, what: str) -> ValueError:
        return ValueError(f"Cannot parse {self.text!r}: {what} is not supported in model "
                          "strings (use arithmetic, comparisons, and/or/not and function calls).")

    def __call__(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Expression):
            return self(node.body)
        if isinstance(node, ast.Constant):
            if isinstance(node.value, bool):
                return sympy.true if node.value else sympy.false
            if isinstance(node.value, (int, float)):
                return sympy.Integer(node.value) if isinstance(node.value, int) else \
                    sympy.Float(node.value)
            raise self.bad(f"the constant {node.value!r}")
        if isinstance(node, ast.Name):
            return _symbol(node.id)
        if isinstance(node, ast.BinOp) and type(node.op) in _BINOPS:
            return _BINOPS[type(node.op)](_number(self(node.left)), _number(self(node.right)))
        if isinstance(node, ast.UnaryOp):
            x = self(node.operand)
            if isinstance(node.op, ast.USub):
                return -_number(x)
            if isinstance(node.op, ast.UAdd):
                return x
            if isinstance(node.op, ast.Not):
                return sympy.Not(x)
        if isinstance(node, ast.BoolOp):
            op = sympy.And if isinstance(node.op, ast.And) else sympy.Or
            return op(*[self(v) for v in node.values])
        if isinstance(node, ast.Compare):
            parts, left = [], self(node.left)
            for op, right_node in zip(node.ops, node.comparators):
                if type(op) not in _COMPARE:
                    raise self.bad(f"the comparison {type(op).__name__}")
                right = self(right_node)
                parts.append(_COMPARE[type(op)](left, right, evaluate=False))
                left = right
            return parts[0] if len(parts) == 1 else sympy.And(*parts)
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
            name = node.func.id
            args = [self(a) for a in node.args]
            if name == "int" and len(args) == 1:
                return _number(args[0]) if isinstance(args[0], sympy.logic.boolalg.Boolean) \
                    else sympy.floor(args[0])
            fn = self.functions.get(name)
            if fn is None:
                fn = FUNCTIONS.get(name) or sympy.Function(name)
            return fn(*args)
        raise self.bad(f"the syntax {type(node).__name__}")


def parse_expression(text: str, functions: dict[str, Any] | None = None) -> Any:
    """Parse one expression or condition into sympy.

    Examples
    --------
    >>> from brainsim.equations import parse_expression
    >>> parse_expression('(El - v) / tau')
    (El - v)/tau
    >>> parse_expression('v > vt and not_refractory')
    not_refractory & (v > vt)
    """
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as e:
        raise ValueError(f"Cannot parse the expression {text!r}: {e.msg}.") from None
    return _Converter(text, functions or {})(tree)


_AUG = {ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/"}


def parse_statements(text: str, functions: dict[str, Any] | None = None) -> list[tuple[str, Any]]:
    """Parse ``'v = Vr; w += b'`` into ``[(name, sympy_value), ...]``.

    Augmented assignments become plain ones (``w += b`` -> ``w = w + b``);
    the statements run in order, each seeing the results of the ones before.

    Examples
    --------
    >>> from brainsim.equations import parse_statements
    >>> parse_statements('v = Vr; w += b')
    [('v', Vr), ('w', b + w)]
    """
    out = []
    for part in re.split(r"[;\n]", text):
        part = part.split("#", 1)[0].strip()
        if not part:
            continue
        try:
            node = ast.parse(part, mode="exec").body[0]
        except SyntaxError as e:
            raise ValueError(f"Cannot parse the statement {part!r}: {e.msg}.") from None
        conv = _Converter(part, functions or {})
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and \
                isinstance(node.targets[0], ast.Name):
            out.append((node.targets[0].id, conv(node.value)))
        elif isinstance(node, ast.AugAssign) and isinstance(node.target, ast.Name) and \
                type(node.op) in _AUG:
            name = node.target.id
            out.append((name, _BINOPS[type(node.op)](_symbol(name), conv(node.value))))
        else:
            raise ValueError(f"Cannot parse the statement {part!r}: write 'name = expression' "
                             "or 'name += expression' (also -=, *=, /=), separated by ';'.")
    return out


@dataclass
class Equation:
    """One line of a model: ``kind`` is ``'diff'``, ``'sub'`` or ``'param'``."""
    __module__ = "brainsim.equations"
    kind: str
    name: str
    unit: str
    expr: Any = None          # sympy expression (None for parameters)
    text: str = ""            # the source line, for messages
    flags: tuple = ()


@dataclass
class Equations:
    """A parsed model: its equations in source order."""
    __module__ = "brainsim.equations"
    equations: list[Equation] = field(default_factory=list)

    def __iter__(self):
        return iter(self.equations)

    def of_kind(self, kind: str) -> list[Equation]:
        return [e for e in self.equations if e.kind == kind]

    @property
    def names(self) -> list[str]:
        return [e.name for e in self.equations]

    def __getitem__(self, name: str) -> Equation:
        for e in self.equations:
            if e.name == name:
                return e
        raise KeyError(name)


_DIFF = re.compile(r"^d\s*([A-Za-z_]\w*)\s*/\s*dt\s*=\s*(.+)$")
_SUB = re.compile(r"^([A-Za-z_]\w*)\s*=\s*(.+)$")
_PARAM = re.compile(r"^([A-Za-z_]\w*)$")
_FLAGS = re.compile(r"\(\s*([A-Za-z_][\w\s,-]*)\)\s*$")


def _logical_lines(text: str) -> list[str]:
    """Lines with comments removed; a line without ':' continues onto the next."""
    lines, buf = [], ""
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        buf = f"{buf} {line}".strip()
        if ":" in line:
            lines.append(buf)
            buf = ""
    if buf:
        raise ValueError(f"Cannot parse the model line {buf!r}: every equation ends with "
                         "': unit', e.g. 'dv/dt = -v / tau : volt' or 'tau : second'.")
    return lines


def parse_equations(text: str, functions: dict[str, Any] | None = None) -> Equations:
    """Parse a model string into :class:`Equations`.

    Examples
    --------
    >>> from brainsim.equations import parse_equations
    >>> eqs = parse_equations('''dv/dt = (El - v) / tau : volt (unless refractory)
    ...                          tau : second''')
    >>> [(e.kind, e.name, e.unit, e.flags) for e in eqs]
    [('diff', 'v', 'volt', ('unless refractory',)), ('param', 'tau', 'second', ())]
    """
    if not isinstance(text, str):
        raise TypeError(f"model must be a string of equations, got {type(text).__name__}.")
    eqs = Equations()
    seen: set[str] = set()
    for line in _logical_lines(text):
        lhs_expr, rest = line.rsplit(":", 1)
        flags: tuple = ()
        m = _FLAGS.search(rest)
        if m and all(f.strip() in FLAGS for f in m.group(1).split(",")):
            flags = tuple(f.strip() for f in m.group(1).split(","))
            rest = rest[:m.start()]
        unit = rest.strip()
        if not unit:
            raise ValueError(f"Cannot parse the model line {line!r}: the unit after ':' is "
                             "missing (write '1' for a dimensionless variable).")
        lhs_expr = lhs_expr.strip()
        if m := _DIFF.match(lhs_expr):
            eq = Equation("diff", m.group(1), unit, parse_expression(m.group(2), functions),
                          line, flags)
        elif m := _SUB.match(lhs_expr):
            eq = Equation("sub", m.group(1), unit, parse_expression(m.group(2), functions),
                          line, flags)
        elif m := _PARAM.match(lhs_expr):
            eq = Equation("param", m.group(1), unit, None, line, flags)
        else:
            raise ValueError(
                f"Cannot parse the model line {line!r}. Write 'dx/dt = expr : unit', "
                "'y = expr : unit' or 'name : unit', optionally followed by flags such as "
                "(unless refractory).")
        if eq.name in seen:
            raise ValueError(f"The model defines {eq.name!r} twice (line {line!r}).")
        if eq.name in ("t", "dt", "i", "N", "not_refractory"):
            raise ValueError(f"The model line {line!r} defines {eq.name!r}, a reserved name "
                             "(t, dt, i, N, not_refractory); choose another name.")
        seen.add(eq.name)
        eqs.equations.append(eq)
    if not eqs.equations:
        raise ValueError("The model string holds no equations.")
    return eqs
