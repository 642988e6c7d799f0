"""Every command has --help text and is named in the README.

The commands are found by walking the click groups of ``toefl_access.cli.main``, so commands
added later are covered without touching this file.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from toefl_access.cli import main

README = Path(__file__).resolve().parents[1] / "README.md"


def walk(group: click.Group, path: tuple[str, ...] = ()) -> Iterator[tuple[str, ...]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name)
        if isinstance(command, click.Group):
            yield from walk(command, (*path, name))


COMMANDS = list(walk(main))


def test_commands_are_found() -> None:
    assert ("parse",) in COMMANDS and ("layouts",) in COMMANDS


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_help_text(path: tuple[str, ...]) -> None:
    result = CliRunner().invoke(main, [*path, "--help"])
    assert result.exit_code == 0, result.output
    usage, _, rest = result.stdout.partition("\n\n")
    assert usage.startswith("Usage: ") and " ".join(path) in usage
    description = rest.split("Options:")[0].strip()
    assert description, f"`toefl-access {' '.join(path)}` has no help text: give it a docstring"


def test_main_help_lists_the_commands() -> None:
    out = CliRunner().invoke(main, ["--help"]).stdout
    for (name, *_) in COMMANDS:
        assert name in out


@pytest.mark.parametrize("path", COMMANDS, ids=" ".join)
def test_named_in_the_readme(path: tuple[str, ...]) -> None:
    name = "toefl-access " + " ".join(path)
    readme = README.read_text(encoding="utf-8")
    assert f"`{name}`" in readme or f"`{name} " in readme, (
        f"README.md does not name the command `{name}`: add it to the command table"
    )


def test_the_cli_starts_without_its_heavy_libraries() -> None:
    # numpy and pyarrow (parsing), SQLAlchemy (the store), httpx (the client), Starlette
    # and uvicorn (the mock) cost start-up time and ~70 MB; each command loads its own
    import subprocess
    import sys

    heavy = ("numpy", "pyarrow", "sqlalchemy", "httpx", "starlette", "uvicorn")
    code = f"import sys, toefl_access.cli; print([m for m in {heavy!r} if m in sys.modules])"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True)
    assert out.stdout.strip() == "[]"
