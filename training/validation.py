"""One-line messages from pydantic validation errors, and YAML reading with an expansion limit.

The lab's config and claim files are validated by pydantic v2 models (:mod:`training.config`,
:mod:`training.claim_schema`). A :class:`pydantic.ValidationError` lists every problem over several lines; the CLIs
print one line naming the file and the dotted field instead, e.g. ``run.yaml: field 'lora.r': expected int, got
'x'``. :func:`locate` walks an error's ``loc`` through the model's field annotations to the dotted path
(``data[0].mask_patterns[1]``) and the annotation found there, so each schema words the problem in its own style
from the error type and the annotation (:func:`error_line`).

:func:`safe_load_yaml` is ``yaml.safe_load`` that refuses alias bombs: the document is composed into its node graph
(aliases stay shared references, so this is cheap), its size *with every alias expanded* is counted with a memo,
and only a document under ``max_nodes`` is built into Python objects. Recursive aliases and over-deep nesting are
refused the same way, as :class:`YAMLLimitError` (a ``yaml.YAMLError``, so callers' YAML error paths report it).
"""

from __future__ import annotations

import re
import types
import typing
from dataclasses import dataclass
from typing import Any, Callable

import yaml
from pydantic import BaseModel, ValidationError

__all__ = ["Located", "locate", "error_line", "annotation_name", "YAMLLimitError", "safe_load_yaml",
           "MAX_YAML_NODES", "valid_regex"]

#: default limit of :func:`safe_load_yaml`: nodes after alias expansion (a config or claim file has hundreds)
MAX_YAML_NODES = 100_000


@dataclass(frozen=True)
class Located:
    """Where a validation error points: the dotted path, the annotation there, and the model that owns it."""

    path: str  # "lora.r", "data[0].mask_patterns[1]", "" for the root
    annotation: Any  # the (unwrapped) annotation at the path; the model class for the root
    owner: type[BaseModel] | None  # the innermost model on the path (whose fields an unknown key was checked against)
    rest: tuple[Any, ...]  # loc items the walk could not follow (a union arm's tag, an unknown key)


def _unwrap(tp: Any) -> Any:
    """``Annotated[X, ...]`` -> ``X``."""
    while typing.get_origin(tp) is typing.Annotated:
        tp = typing.get_args(tp)[0]
    return tp


def _is_model(tp: Any) -> bool:
    return isinstance(tp, type) and issubclass(tp, BaseModel)


def _strip_none(tp: Any) -> Any:
    """``X | None`` -> ``X`` (pydantic reports errors inside an optional value without a union tag)."""
    if typing.get_origin(tp) in (typing.Union, types.UnionType):
        arms = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(arms) == 1:
            return _unwrap(arms[0])
    return tp


def locate(model: type[BaseModel], loc: tuple[Any, ...]) -> Located:
    """Follow ``loc`` (a pydantic error location) through ``model``'s annotations."""
    tp: Any = model
    owner: type[BaseModel] | None = model
    path = ""
    for k, item in enumerate(loc):
        base = _strip_none(_unwrap(tp))
        origin = typing.get_origin(base)
        if _is_model(base) and isinstance(item, str) and item in base.model_fields:
            owner, tp = base, base.model_fields[item].annotation
            path = f"{path}.{item}" if path else item
        elif isinstance(item, int) and origin in (list, tuple):
            tp = typing.get_args(base)[0]
            path = f"{path}[{item}]"
        elif isinstance(item, str) and origin is dict:
            tp = typing.get_args(base)[1]
            path = f"{path}.{item}" if path else item
        else:
            return Located(path, _unwrap(tp), base if _is_model(base) else owner, tuple(loc[k:]))
    return Located(path, _unwrap(tp), owner, ())


def annotation_name(tp: Any) -> str:
    """``int``, ``int | None``, ``str | list[str]``: an annotation as a reader writes it (validators left out)."""
    tp = _unwrap(tp)
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin in (typing.Union, types.UnionType):
        return " | ".join(annotation_name(a) for a in args)
    if origin is typing.Literal:
        return f"Literal{list(args)}"
    if origin is not None and args:
        return f"{getattr(origin, '__name__', str(origin))}[{', '.join(annotation_name(a) for a in args)}]"
    if tp is type(None):
        return "None"
    return tp.__name__ if isinstance(tp, type) else str(tp).replace("typing.", "")


def error_line(err: ValidationError, model: type[BaseModel], where: str,
               problem: Callable[[dict[str, Any], Located], tuple[str, str]], prefix: str = "") -> str:
    """``<where>: field '<prefix><path>': <problem>`` for the first error of ``err``.

    ``problem(error, located)`` returns ``(path, text)``: the path to name (usually ``located.path``; an unknown
    key appends itself) and the problem text, worded by the schema.
    """
    first = err.errors(include_url=False)[0]
    located = locate(model, tuple(first["loc"]))
    path, text = problem(first, located)
    name = f"{prefix}{path}".rstrip(".") or "<root>"
    return f"{where}: field '{name}': {text}"


# ------------------------------------------------------------------------------------------ YAML


class YAMLLimitError(yaml.YAMLError):
    """A YAML document too large once its aliases are expanded, recursive, or nested too deeply."""


def _expanded_size(node: yaml.Node, memo: dict[int, int], open_: set[int], limit: int) -> int:
    key = id(node)
    if key in memo:
        return memo[key]
    if key in open_:
        raise YAMLLimitError("recursive alias")
    open_.add(key)
    n = 1
    if isinstance(node, yaml.SequenceNode):
        for child in node.value:
            n += _expanded_size(child, memo, open_, limit)
            if n > limit:
                break
    elif isinstance(node, yaml.MappingNode):
        for k, v in node.value:
            n += _expanded_size(k, memo, open_, limit) + _expanded_size(v, memo, open_, limit)
            if n > limit:
                break
    open_.discard(key)
    memo[key] = n
    if n > limit:
        raise YAMLLimitError(f"more than {limit:,} values once aliases are expanded (an alias bomb?)")
    return n


def safe_load_yaml(text: str, *, max_nodes: int = MAX_YAML_NODES) -> Any:
    """``yaml.safe_load(text)``, refusing documents over ``max_nodes`` after alias expansion (see the module
    docstring); raises ``yaml.YAMLError`` (:class:`YAMLLimitError` for the limits)."""
    loader = yaml.SafeLoader(text)
    try:
        node = loader.get_single_node()
        if node is None:
            return None
        _expanded_size(node, {}, set(), max_nodes)
        return loader.construct_document(node)
    except RecursionError:
        raise YAMLLimitError("nested too deeply") from None
    finally:
        loader.dispose()


def valid_regex(pattern: str) -> str:
    """A pydantic validator: ``pattern`` if it compiles as a Python regex, else a one-line ``ValueError``."""
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"invalid regex ({e})") from None
    return pattern
