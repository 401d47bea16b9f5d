"""Answers printed as JSON, YAML or a table that fits a terminal."""

import json

import click
import yaml


def emit(data, output: str, *, columns: list[tuple[str, str]] | None = None, rows: list[dict] | None = None) -> None:
    """`data` as JSON or YAML; as a table, `rows` (default: `data`) under `columns` (key, heading)."""
    if output == "json":
        click.echo(json.dumps(data, indent=2, ensure_ascii=False))
    elif output == "yaml":
        click.echo(yaml.safe_dump(data, sort_keys=False, allow_unicode=True), nl=False)
    elif columns is None:
        for key, value in data.items():
            click.echo(
                f"{key}: {value if not isinstance(value, list | dict) else json.dumps(value, ensure_ascii=False)}"
            )
    else:
        table(rows if rows is not None else data, columns)


def cell(value) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.1f}"
    if isinstance(value, list):
        return ",".join(str(item) for item in value)
    return str(value)


def table(rows: list[dict], columns: list[tuple[str, str]]) -> None:
    lines = [[heading for _, heading in columns]] + [[cell(row.get(key)) for key, _ in columns] for row in rows]
    widths = [max(len(line[index]) for line in lines) for index in range(len(columns))]
    for number, line in enumerate(lines):
        text = "  ".join(value.ljust(width) for value, width in zip(line, widths, strict=True)).rstrip()
        click.echo(click.style(text, bold=True) if number == 0 else text)
