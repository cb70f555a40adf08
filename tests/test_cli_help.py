"""Every command and subcommand has help text, and --help works for each."""

from __future__ import annotations

import click
import pytest

from ptmcoder.cli import cli


def _walk(group: click.Group, ctx: click.Context, prefix: tuple[str, ...]):
    for name in group.list_commands(ctx):
        command = group.get_command(ctx, name)
        assert command is not None, f"{' '.join((*prefix, name))} is listed but cannot load"
        yield (*prefix, name), command
        if isinstance(command, click.Group):
            sub_ctx = click.Context(command, info_name=name, parent=ctx)
            yield from _walk(command, sub_ctx, (*prefix, name))


ALL_COMMANDS = list(_walk(cli, click.Context(cli, info_name="ptmcoder"), ()))


def test_commands_are_registered():
    names = {path[0] for path, _ in ALL_COMMANDS}
    assert "codebook" in names


@pytest.mark.parametrize("path,command", ALL_COMMANDS, ids=[" ".join(p) for p, _ in ALL_COMMANDS])
def test_every_command_has_help(path, command, run_cli):
    assert (command.help or "").strip(), f"ptmcoder {' '.join(path)} has no help text"
    for param in command.params:
        if isinstance(param, click.Option) and not param.hidden and param.name != "help":
            assert (param.help or "").strip(), (
                f"option {param.opts} of {' '.join(path)} has no help"
            )
    result = run_cli(*path, "--help")
    assert result.exit_code == 0, result.stderr
    assert "Usage:" in result.stdout


def test_top_level_help_lists_commands(run_cli):
    result = run_cli("--help")
    assert result.exit_code == 0
    assert "codebook" in result.stdout


def test_version(run_cli):
    from ptmcoder import __version__

    result = run_cli("--version")
    assert result.exit_code == 0
    assert __version__ in result.stdout
