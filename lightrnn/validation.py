"""Config checks every config dataclass shares: each field has its declared type, and numbers
are finite, so `lr=NaN` or `max_steps=2.5` fails where it is set, naming the field and the fix.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
import types
import typing
from typing import Any

from lightrnn.errors import ConfigError


def check_fields(config: Any, prefix: str = "") -> None:
    """Raise ConfigError for the first field of dataclass `config` that breaks its annotation
    (int, float, bool, str, X | None, Literal[...], tuple[int, ...]) or is a non-finite number."""
    hints = typing.get_type_hints(type(config))
    for f in dataclasses.fields(config):
        if not f.init:
            continue
        value, expected = getattr(config, f.name), hints[f.name]
        if not _matches(value, expected):
            raise ConfigError(
                f"{prefix}{f.name}={value!r}: must be {_describe(expected)} "
                f"(got {type(value).__name__})"
            )
        if isinstance(value, float) and not math.isfinite(value):
            raise ConfigError(f"{prefix}{f.name}={value!r}: must be a finite number")


def _matches(value: Any, expected: Any) -> bool:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if expected is Any:
        return True
    if origin in (typing.Union, types.UnionType):
        return any(_matches(value, a) for a in args)
    if origin is typing.Literal:  # the value itself: the config's own check, with its advice
        return isinstance(value, tuple({type(a) for a in args}))
    if expected is type(None):
        return value is None
    if expected is bool:
        return isinstance(value, bool)
    if expected is int:
        return isinstance(value, numbers.Integral) and not isinstance(value, bool)
    if expected is float:
        return isinstance(value, numbers.Real) and not isinstance(value, bool)
    if origin is tuple:
        inner = args[0] if args else Any
        return isinstance(value, tuple | list) and all(_matches(v, inner) for v in value)
    if isinstance(expected, type):
        return isinstance(value, expected)
    return True


def _describe(expected: Any) -> str:
    origin, args = typing.get_origin(expected), typing.get_args(expected)
    if origin in (typing.Union, types.UnionType):
        return " or ".join(_describe(a) for a in args)
    if origin is typing.Literal:
        return " or ".join(sorted({_describe(type(a)) for a in args}))
    if origin is tuple:
        return f"a list of {_describe(args[0]) if args else 'values'}"
    names = {int: "an integer", float: "a number", bool: "true or false", str: "a string"}
    if expected is type(None):
        return "null"
    return names.get(expected, getattr(expected, "__name__", str(expected)))
