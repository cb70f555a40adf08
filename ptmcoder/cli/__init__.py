"""The ``ptmcoder`` command line.

Commands are split by noun, one module each in ``ptmcoder/cli/``. The top-level
group imports a command's module only when that command runs (or help lists
it), so ``ptmcoder codebook list`` never pays for importing torch or scipy.
"""

from __future__ import annotations

import errno
import importlib
import os
import warnings
from typing import Any

import click

from ptmcoder import __version__
from ptmcoder.errors import PtmcoderError, PtmcoderWarning

# command name -> "module:attribute"; a module that does not exist yet is skipped.
COMMANDS: dict[str, str] = {
    "codebook": "ptmcoder.cli.codebook:codebook",
    "corpus": "ptmcoder.cli.corpus:corpus",
    "annotate": "ptmcoder.cli.annotate:annotate",
    "agree": "ptmcoder.cli.agree:agree",
    "review": "ptmcoder.cli.review:review",
    "map": "ptmcoder.cli.map:map_group",
    "stats": "ptmcoder.cli.stats:stats",
    "runs": "ptmcoder.cli.runs:runs",
    "sample": "ptmcoder.cli.sample:sample",
    "report": "ptmcoder.cli.report:report",
    "compare": "ptmcoder.cli.compare:compare",
    "run": "ptmcoder.cli.run:run",
    "export": "ptmcoder.cli.export:export",
    "import-codings": "ptmcoder.cli.export:import_codings",
    "demo": "ptmcoder.cli.demo:demo",
    "route": "ptmcoder.cli.route:route",
}


def file_error_message(exc: OSError) -> str:
    """A file that failed (a directory where a file belongs, no permission, an I/O
    error), as one line naming the path: ``cannot use /x/y: Is a directory``.

    >>> file_error_message(IsADirectoryError(21, "Is a directory", "/x/y"))
    'cannot use /x/y: Is a directory (a directory where a file belongs?)'
    """
    path = os.fsdecode(exc.filename)
    reason = exc.strerror or type(exc).__name__
    if exc.errno == errno.EISDIR:
        reason += " (a directory where a file belongs?)"
    elif exc.errno in (errno.EACCES, errno.EPERM):
        reason += " (check the file's permissions)"
    other = f" -> {os.fsdecode(exc.filename2)}" if exc.filename2 is not None else ""
    return f"cannot use {path}{other}: {reason}"


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and which turns
    :class:`PtmcoderError` into a clean message and its exit code, an
    :class:`OSError` on a named file (a directory given for a file, a permission, an
    I/O error) into a message naming the path, and each
    :class:`~ptmcoder.errors.PtmcoderWarning` into one ``warning:`` line on stderr.
    ``PTMCODER_DEBUG=1`` re-raises both errors with their traceback."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module_name, attr = spec.split(":", 1)
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context) -> Any:
        debug = os.environ.get("PTMCODER_DEBUG") == "1"
        with warnings.catch_warnings():
            warnings.simplefilter("always", PtmcoderWarning)
            warnings.showwarning = _warning_printer(warnings.showwarning)
            try:
                return super().invoke(ctx)
            except PtmcoderError as exc:
                if debug:
                    raise
                from ptmcoder.llm.redact import redact

                error = click.ClickException(redact(str(exc)) or "")
                # click annotates exit_code as a ClassVar, yet its main() reads the instance's
                error.exit_code = exc.exit_code  # type: ignore[misc]
                raise error from exc
            except OSError as exc:
                if debug or exc.filename is None:  # not a file: a network fault or a bug
                    raise
                raise click.ClickException(file_error_message(exc)) from exc


def _warning_printer(fallback: Any) -> Any:
    """A ``warnings.showwarning`` that prints each :class:`PtmcoderWarning` once, as
    ``warning: <message>`` on stderr, and hands other warnings to ``fallback``."""
    shown: set[str] = set()

    def show(message, category, filename, lineno, file=None, line=None) -> None:  # type: ignore[no-untyped-def]
        if not issubclass(category, PtmcoderWarning):
            fallback(message, category, filename, lineno, file, line)
            return
        text = str(message)
        if text not in shown:
            shown.add(text)
            click.echo(f"warning: {text}", err=True)

    return show


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ptmcoder")
def cli() -> None:
    """ptmcoder: code Stack Overflow questions and GitHub issues against a codebook
    with an LLM or an offline embedded annotator, measure agreement with human
    coders, review disagreements and run the studies' statistics."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="ptmcoder")
