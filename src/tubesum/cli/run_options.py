"""``@run_options``: the CLI flags of every ``RunOptions`` field, generated from the field (type, limits, help).

A field ``vad_threshold: float | None`` with ``ge=0, le=1`` becomes ``--vad-threshold FLOAT RANGE`` whose help
is the field's description; a bool becomes ``--x/--no-x``; a ``Literal`` a choice; a tuple a repeatable (or
comma-separated) option. The decorated command receives one ``options: RunOptions`` argument instead.
A new ``RunOptions`` field therefore gets its flag with no change here; the tables below only add short
names, whisper's spellings and CLI-only help (``-f all``). ``@run_options(fields=("model", "device"))`` adds only
those fields' flags (``tubesum bench``).
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal, TypeVar, get_args, get_origin, overload

import annotated_types
import click
from pydantic import ValidationError
from pydantic.fields import FieldInfo

from tubesum.config import OUTPUT_FORMATS
from tubesum.options import RunOptions, first_error

__all__ = ["run_options"]

_F = TypeVar("_F", bound=Callable[..., Any])

#: Flag spellings that are not ``--<field-name>`` (short names, whisper's and tubesum's usual names).
_DECLS: dict[str, tuple[str, ...]] = {
    "model": ("-m", "--model"),
    "language": ("-l", "--language"),
    "formats": ("-f", "--format"),
    "output_dir": ("-o", "--output-dir"),
    "vad_filter": ("--vad/--no-vad",),
    "speaker_names": ("--speaker-name",),
}
#: What the CLI adds to a field's description (forms only the command line has).
_CLI_HELP: dict[str, str] = {
    "formats": "Repeatable; 'all' for every format.",
    "speaker_names": "Repeatable, e.g. --speaker-name SPEAKER_00=Alice.",
    "temperature": "E.g. 0, or 0,0.2,0.4.",
    "output_dir": "Default TUBESUM_OUTPUT_DIR or ./outputs.",
}
_METAVARS: dict[str, str] = {"speaker_names": "LABEL=NAME", "temperature": "T[,T...]", "formats": "FORMAT"}


@overload
def run_options(func: _F, *, fields: Iterable[str] | None = None) -> _F: ...
@overload
def run_options(func: None = None, *, fields: Iterable[str] | None = None) -> Callable[[_F], _F]: ...
def run_options(func: _F | None = None, *, fields: Iterable[str] | None = None) -> Any:
    """Add a flag for each ``RunOptions`` field (or only ``fields``); the command gets ``options: RunOptions``.

    Unset flags are None ("use the setting"). Invalid combinations are refused as a usage error naming the field.
    """
    names = tuple(fields) if fields is not None else tuple(RunOptions.model_fields)

    def decorate(command: _F) -> _F:
        @functools.wraps(command)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            values = {name: kwargs.pop(name) for name in names}
            values = {name: value for name, value in values.items() if value not in (None, ())}
            try:
                kwargs["options"] = RunOptions(**values)
            except ValidationError as exc:
                raise click.UsageError(f"Invalid option: {first_error(exc)}") from None
            return command(*args, **kwargs)

        decorated: Any = wrapper
        for name in reversed(names):
            decorated = click.option(*_decls(name), name, **_option_kwargs(name, RunOptions.model_fields[name]))(
                decorated
            )
        return decorated  # type: ignore[no-any-return]

    return decorate(func) if func is not None else decorate


def flag_name(name: str) -> str:
    """The long flag of a field (``initial_prompt`` → ``--initial-prompt``, ``formats`` → ``--format``)."""
    return next((d for d in _decls(name) if d.startswith("--")), "").split("/")[0]


def _decls(name: str) -> tuple[str, ...]:
    if name in _DECLS:
        return _DECLS[name]
    flag = name.replace("_", "-")
    if _inner(RunOptions.model_fields[name].annotation) is bool:
        return (f"--{flag}/--no-{flag}",)
    return (f"--{flag}",)


def _inner(annotation: Any) -> Any:
    """``X`` of ``X | None``."""
    if isinstance(annotation, types.UnionType) or (
        get_origin(annotation) is not None and type(None) in get_args(annotation)
    ):
        args = [a for a in get_args(annotation) if a is not type(None)]
        return args[0] if len(args) == 1 else annotation
    return annotation


def _limits(info: FieldInfo) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in info.metadata:
        if isinstance(item, annotated_types.Ge):
            found["min"] = item.ge
        elif isinstance(item, annotated_types.Gt):
            found["min"], found["min_open"] = item.gt, True
        elif isinstance(item, annotated_types.Le):
            found["max"] = item.le
        elif isinstance(item, annotated_types.Lt):
            found["max"], found["max_open"] = item.lt, True
    return found


def _option_kwargs(name: str, info: FieldInfo) -> dict[str, Any]:
    """click.option keyword arguments for one field: type from its annotation, help from its description."""
    kind = _inner(info.annotation)
    help_text = " ".join(filter(None, [info.description, _CLI_HELP.get(name)]))
    kwargs: dict[str, Any] = {"default": None, "help": help_text}
    if name in _METAVARS:
        kwargs["metavar"] = _METAVARS[name]
    if kind is bool:
        return kwargs
    if get_origin(kind) is Literal:
        return {**kwargs, "type": click.Choice([str(a) for a in get_args(kind)])}
    if kind is int:
        return {**kwargs, "type": click.IntRange(**_limits(info)) if _limits(info) else int}
    if kind is float:
        return {**kwargs, "type": click.FloatRange(**_limits(info)) if _limits(info) else float}
    if kind is Path:
        return {**kwargs, "type": click.Path(file_okay=False, path_type=Path)}
    if name == "formats":
        return {**kwargs, "multiple": True, "callback": _formats, "default": ()}
    if get_origin(kind) is tuple and get_args(kind)[0] is str:
        return {**kwargs, "multiple": True, "default": ()}
    return kwargs  # str, and tuples of numbers given as one comma-separated value (validated by RunOptions)


def _formats(_ctx: click.Context, _param: click.Parameter, values: tuple[str, ...]) -> tuple[str, ...] | None:
    """Accept ``-f srt -f vtt``, ``-f srt,vtt`` and ``-f all``."""
    if not values:
        return None
    out: list[str] = []
    for value in values:
        for part in value.split(","):
            name = part.strip().lower()
            if name == "all":
                out.extend(OUTPUT_FORMATS)
            elif name in OUTPUT_FORMATS:
                out.append(name)
            elif name:
                raise click.BadParameter(f"unknown format {name!r}; use {', '.join(OUTPUT_FORMATS)} or all")
    return tuple(dict.fromkeys(out))
