"""mkdocs hook: generate the configuration, CLI and API reference pages from the code at every build.

Nothing here is committed as output, so the pages cannot go stale: ``reference/configuration.md`` comes from
``tubesum.config.Settings``, ``reference/cli.md`` from the click tree's ``--help``, ``reference/api.md`` and
``reference/openapi.json`` from the OpenAPI schema of ``create_app()``. Wired in mkdocs.yml under ``hooks:``.
"""

from __future__ import annotations

import json
import types
import typing
from typing import Any

from mkdocs.config.defaults import MkDocsConfig
from mkdocs.structure.files import File, Files

GENERATED = ("reference/configuration.md", "reference/cli.md", "reference/api.md", "reference/openapi.json")


def on_files(files: Files, config: MkDocsConfig) -> Files:
    """Add the generated reference pages to the build (mkdocs 1.6 ``File.generated``)."""
    pages = {
        "reference/configuration.md": configuration_page(),
        "reference/cli.md": cli_page(),
        "reference/api.md": api_page(),
        "reference/openapi.json": json.dumps(openapi_schema(), indent=2, sort_keys=True) + "\n",
    }
    for path, content in pages.items():
        files.append(File.generated(config, path, content=content))
    return files


# -- configuration ---------------------------------------------------------------------------------------------


def env_names(name: str, info: Any) -> list[str]:
    """Environment variables a Settings field is read from (aliases for secrets, else TUBESUM_<NAME>)."""
    alias = info.validation_alias
    choices = getattr(alias, "choices", None)
    if choices:
        return [c for c in choices if isinstance(c, str) and c.isupper()]
    return [f"TUBESUM_{name.upper()}"]


def type_name(annotation: Any) -> str:
    """Render a field annotation for readers: ``"a" | "b"`` for literals, ``int | None``, ``list of str``."""
    origin = typing.get_origin(annotation)
    args = typing.get_args(annotation)
    if origin is typing.Annotated:
        return type_name(args[0])
    if origin is typing.Literal:
        return " \\| ".join(f'`"{a}"`' if isinstance(a, str) else f"`{a}`" for a in args)
    if origin in (typing.Union, types.UnionType):
        return " \\| ".join(type_name(a) for a in args)
    if origin is tuple:
        return f"comma-separated list of {type_name(args[0])}"
    if annotation is type(None):
        return "`None`"
    return f"`{getattr(annotation, '__name__', str(annotation))}`"


def _default(name: str, info: Any) -> str:
    from tubesum.config import _FACTORY_DEFAULTS, _env_value

    if info.default_factory is not None:
        return f"`{_FACTORY_DEFAULTS[name]}`"
    value = _env_value(info.get_default(call_default_factory=False))
    return f"`{value}`" if value else "*(empty)*"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def configuration_page() -> str:
    from tubesum.config import Settings

    lines = [
        "# Configuration reference",
        "",
        "<!-- Generated from tubesum.config.Settings by docs/hooks/reference.py at build time. -->",
        "Every setting is an environment variable (or a line in `.env` in the working directory); command-line",
        "options override them. `tubesum config show` prints the effective values (secrets masked) and",
        "`tubesum config env-example` writes a `.env` template with the same list.",
        "",
        "| Setting | Environment variable | Type | Default | Description |",
        "|---|---|---|---|---|",
    ]
    for name, info in Settings.model_fields.items():
        env = "<br>".join(f"`{e}`" for e in env_names(name, info))
        lines.append(
            f"| `{name}` | {env} | {type_name(info.annotation)} | {_default(name, info)} "
            f"| {_cell(info.description or '')} |"
        )
    return "\n".join(lines) + "\n"


# -- CLI -------------------------------------------------------------------------------------------------------


def _commands(group: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    import click

    found = [path]
    if isinstance(group, click.Group):
        for name in sorted(group.commands):
            found.extend(_commands(group.commands[name], (*path, name)))
    return found


def cli_page() -> str:
    from click.testing import CliRunner

    from tubesum.cli import cli

    runner = CliRunner()
    lines = [
        "# CLI reference",
        "",
        "<!-- Generated from `tubesum … --help` by docs/hooks/reference.py at build time. -->",
        "Every command and its options, exactly as `--help` prints them.",
        "",
    ]
    for path in _commands(cli):
        result = runner.invoke(cli, [*path, "--help"], prog_name="tubesum", terminal_width=100)
        if result.exit_code != 0:
            raise RuntimeError(f"tubesum {' '.join(path)} --help failed: {result.output}")
        title = " ".join(("tubesum", *path))
        lines += [f"{'#' * min(len(path) + 2, 4)} `{title}`", "", "```text", result.output.rstrip(), "```", ""]
    return "\n".join(lines)


# -- API -------------------------------------------------------------------------------------------------------


def openapi_schema() -> dict[str, Any]:
    from tubesum.api.app import create_app
    from tubesum.config import Settings

    schema: dict[str, Any] = create_app(Settings(_env_file=None), worker=False).openapi_schema.to_schema()
    return schema


def _schema_type(prop: dict[str, Any]) -> str:
    if "$ref" in prop:
        name = prop["$ref"].rsplit("/", 1)[-1]
        return f"[{name}](#{name.lower()})"
    if "allOf" in prop and len(prop["allOf"]) == 1:
        return _schema_type(prop["allOf"][0])
    if "oneOf" in prop or "anyOf" in prop:
        choices = [p for p in prop.get("oneOf", prop.get("anyOf", [])) if p]  # {} is "anything": say nothing
        return " \\| ".join(_schema_type(p) for p in choices)
    if prop.get("type") == "array":
        return f"array of {_schema_type(prop.get('items', {}))}"
    if "enum" in prop:
        return " \\| ".join(f"`{v}`" for v in prop["enum"])
    kind = prop.get("type", "any")
    return " \\| ".join(kind) if isinstance(kind, list) else str(kind)


def api_page() -> str:
    schema = openapi_schema()
    lines = [
        "# HTTP API reference",
        "",
        "<!-- Generated from the OpenAPI schema of create_app() by docs/hooks/reference.py at build time. -->",
        f"OpenAPI {schema['openapi']} for {schema['info']['title']} {schema['info']['version']}. The machine-readable",
        "schema is [openapi.json](openapi.json); a running server also serves it at `/schema` (with a browsable",
        "UI at `/schema/swagger`). Requests under `/v1` need `Authorization: Bearer <key>` or `X-API-Key`;",
        "errors are `application/problem+json` with a stable `code` (see [Troubleshooting](../troubleshooting.md)).",
        "",
        "## Endpoints",
        "",
        "| Method | Path | Operation | Parameters | Body | Responses |",
        "|---|---|---|---|---|---|",
    ]
    for path, operations in schema["paths"].items():
        for method, op in operations.items():
            params = "<br>".join(
                f"`{p['name']}` ({p['in']}{', required' if p.get('required') else ''})"
                for p in op.get("parameters", [])
            )
            body = ""
            if "requestBody" in op:
                content = op["requestBody"]["content"]
                body = "<br>".join(f"{_schema_type(c['schema'])} ({mt})" for mt, c in content.items())
            responses = ", ".join(op.get("responses", {}))
            lines.append(
                f"| `{method.upper()}` | `{path}` | `{op.get('operationId', '')}` | {params} | {body} | {responses} |"
            )
    lines += ["", "## Schemas", ""]
    for name, component in schema.get("components", {}).get("schemas", {}).items():
        lines += [f"### {name}", ""]
        if component.get("description"):
            lines += [_cell(component["description"]), ""]
        if "enum" in component:
            lines += ["One of: " + ", ".join(f"`{v}`" for v in component["enum"]), ""]
            continue
        required = set(component.get("required", []))
        lines += ["| Field | Type | Required | Description |", "|---|---|---|---|"]
        for field, prop in component.get("properties", {}).items():
            extra = f" (default `{json.dumps(prop['default'])}`)" if "default" in prop else ""
            lines.append(
                f"| `{field}` | {_schema_type(prop)} | {'yes' if field in required else ''} "
                f"| {_cell(prop.get('description', ''))}{extra} |"
            )
        lines.append("")
    return "\n".join(lines)
