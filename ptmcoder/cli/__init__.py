"""The ``ptmcoder`` command line.

Commands are split by noun, one module each in ``ptmcoder/cli/``. The top-level
group imports a command's module only when that command runs (or help lists
it), so ``ptmcoder codebook list`` never pays for importing torch or scipy.
"""

from __future__ import annotations

import importlib
import os
from typing import Any

import click

from ptmcoder import __version__
from ptmcoder.errors import PtmcoderError

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
    "report": "ptmcoder.cli.report:report",
    "compare": "ptmcoder.cli.compare:compare",
    "run": "ptmcoder.cli.run:run",
    "export": "ptmcoder.cli.export:export",
    "import-codings": "ptmcoder.cli.export:import_codings",
    "demo": "ptmcoder.cli.demo:demo",
}


class LazyGroup(click.Group):
    """A click group whose subcommands are imported on first use, and which turns
    :class:`PtmcoderError` into a clean message and its exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        spec = COMMANDS.get(name)
        if spec is None:
            return None
        module_name, attr = spec.split(":", 1)
        return getattr(importlib.import_module(module_name), attr)

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except PtmcoderError as exc:
            if os.environ.get("PTMCODER_DEBUG") == "1":
                raise
            from ptmcoder.llm.redact import redact

            error = click.ClickException(redact(str(exc)) or "")
            # click annotates exit_code as a ClassVar, yet its main() reads the instance's
            error.exit_code = exc.exit_code  # type: ignore[misc]
            raise error from exc


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="ptmcoder")
def cli() -> None:
    """ptmcoder: code Stack Overflow questions and GitHub issues against a codebook
    with an LLM or an offline embedded annotator, measure agreement with human
    coders, review disagreements and run the studies' statistics."""


def main(argv: list[str] | None = None) -> None:
    """Console-script entry point."""
    cli.main(args=argv, prog_name="ptmcoder")
