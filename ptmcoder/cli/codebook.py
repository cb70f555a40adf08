"""``ptmcoder codebook``: list, show, validate and export codebooks."""

from __future__ import annotations

import sys
from pathlib import Path

import click
from rich.table import Table
from rich.tree import Tree

from ptmcoder import codebook as cb
from ptmcoder.console import make_console, print_json
from ptmcoder.errors import NotFoundError, ValidationError


@click.group()
def codebook() -> None:
    """Inspect, validate and export codebooks (the shared coding frames)."""


def _status_text(book: cb.Codebook) -> str:
    return "PARTIAL" if book.status is cb.Status.PARTIAL else "complete"


@codebook.command("list")
@click.option("--json", "as_json", is_flag=True, help="Print the list as JSON.")
def list_cmd(as_json: bool) -> None:
    """List the codebooks found in the workspace's codebooks/ and the bundled ones."""
    books, errors = cb.list_codebooks()
    if as_json:
        print_json(
            {
                "codebooks": [cb.summary(b) for b in books],
                "invalid": [str(e) for e in errors],
            }
        )
        return
    console = make_console()
    table = Table(title=f"Codebooks (n={len(books)})")
    table.add_column("id", no_wrap=True)
    table.add_column("title", overflow="ellipsis", no_wrap=True, max_width=44)
    table.add_column("levels", overflow="fold")
    table.add_column("nodes per level", overflow="fold")
    table.add_column("leaves", justify="right")
    table.add_column("status", no_wrap=True)
    for book in books:
        counts = book.counts_per_level()
        table.add_row(
            book.id,
            book.title,
            " > ".join(book.levels),
            " / ".join(str(counts[lvl]) for lvl in book.levels),
            str(len(book.leaves())),
            "[bold yellow]PARTIAL[/]" if book.status is cb.Status.PARTIAL else "complete",
        )
    console.print(table)
    if any(b.status is cb.Status.PARTIAL for b in books):
        console.print(
            "PARTIAL: the codebook holds only what the available sources state; "
            "codes are missing (see `ptmcoder codebook show ID`)."
        )
    err = make_console(stderr=True)
    for error in errors:
        err.print(f"[red]invalid codebook skipped[/]: {error}", markup=True, highlight=False)


def _freq_label(node: cb.Node) -> str:
    f = node.frequency
    if f is None:
        return ""
    parts = []
    if f.percent is not None:
        parts.append(f"{f.percent:g}%")
    if f.count is not None:
        parts.append(f"n={f.count}")
    if f.issues is not None:
        parts.append(f"{f.issues} issues")
    if f.codes is not None:
        parts.append(f"{f.codes} codes")
    return f" [dim]({', '.join(parts)})[/]" if parts else ""


@codebook.command("show")
@click.argument("ref")
@click.option("--json", "as_json", is_flag=True, help="Print every node as JSON.")
def show_cmd(ref: str, as_json: bool) -> None:
    """Show codebook REF (an id or a YAML path) as a tree with counts per level."""
    book = cb.load_codebook(ref)
    if as_json:
        print_json(cb.tree_json(book))
        return
    _render_tree(book, make_console())


def _render_tree(book, console) -> None:
    counts = book.counts_per_level()
    header = (
        f"[bold]{book.title}[/] [dim]({book.id} v{book.version}, {cb.codebook_hash(book)[:19]})[/]"
    )
    tree = Tree(header)

    def add(parent: Tree, node: cb.Node) -> None:
        branch = parent.add(
            f"{node.name} [dim]{node.id}[/]{_freq_label(node)}"
            + (
                " [italic](reconstructed)[/]"
                if node.provenance is cb.Provenance.RECONSTRUCTED
                else ""
            )
        )
        for child in node.children:
            add(branch, child)

    for node in book.nodes:
        add(tree, node)
    if book.special:
        special = tree.add("[italic]special codes (not counted in the taxonomy)[/]")
        for node in book.special:
            # the role only when it says more than the id (false-positive is both)
            role = node.role.value if node.role and node.role.value != node.id else None
            special.add(
                f"{node.name} [dim]{node.id}[/]" + (f" [italic](role: {role})[/]" if role else "")
            )
    console.print(tree)
    console.print(
        "Counts: "
        + ", ".join(f"{counts[lvl]} {lvl}" for lvl in book.levels)
        + f"; {len(book.leaves())} leaf codes; {len(book.special)} special"
    )
    if book.status is cb.Status.PARTIAL:
        console.print(
            "[bold yellow]PARTIAL codebook[/]: it holds only what the available "
            "sources state; codes are missing."
        )
        for note in book.notes:
            console.print(f"  note: {note}")


@codebook.command("validate")
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
def validate_cmd(paths: tuple[Path, ...]) -> None:
    """Validate codebook YAML files; print every problem with file and location.

    Exits 0 when all files are valid and 2 when any problem is found."""
    failed = 0
    for path in paths:
        try:
            book = cb.load_codebook_file(path)
        except ValidationError as exc:
            failed += 1
            for problem in exc.problems:
                click.echo(str(problem))
            continue
        except NotFoundError:  # reported like any other invalid file; the rest are still checked
            failed += 1
            click.echo(f"{path}: file not found")
            continue
        if path.stem != book.id:
            failed += 1
            click.echo(f"{path}: id: id {book.id!r} does not match the file name {path.stem!r}")
            continue
        click.echo(
            f"{path}: ok ({book.id}, {len(book.leaves())} leaves, "
            f"{_status_text(book)}, {cb.codebook_hash(book)[:19]})"
        )
    if failed:
        click.echo(f"{failed} of {len(paths)} file(s) invalid", err=True)
        sys.exit(2)


@codebook.command("export")
@click.argument("ref")
@click.option(
    "--format",
    "fmt",
    type=click.Choice(["markdown", "json", "yaml", "qdc"]),
    default="markdown",
    show_default=True,
    help="Output format.",
)
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write to this file instead of stdout.",
)
def export_cmd(ref: str, fmt: str, output: Path | None) -> None:
    """Export codebook REF, by default as a printable Markdown coding manual.

    ``--format qdc`` writes a REFI-QDA codebook for NVivo, ATLAS.ti, MAXQDA or QualCoder."""
    book = cb.load_codebook(ref)
    if fmt == "qdc":
        from ptmcoder.export.qdc import qdc_bytes

        data = qdc_bytes(book)
        if output is None:
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        else:
            output.write_bytes(data)
            click.echo(f"wrote {output}", err=True)
        return
    if fmt == "markdown":
        text = cb.to_markdown(book)
    elif fmt == "json":
        from ptmcoder.console import dumps_json

        text = dumps_json(book.model_dump(mode="json", exclude_defaults=True)) + "\n"
    else:
        import yaml

        text = yaml.safe_dump(
            book.model_dump(mode="json", exclude_defaults=True),
            sort_keys=False,
            allow_unicode=True,
            width=100,
        )
    if output is None:
        sys.stdout.write(text)
    else:
        output.write_text(text, encoding="utf-8")
        click.echo(f"wrote {output}", err=True)


@codebook.command("import")
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False))
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path),
    default=None,
    help="Write the YAML codebook here (its id is the file name); default stdout.",
)
@click.option("--id", "codebook_id", default=None, help="Id of the new codebook.")
@click.option("--json", "as_json", is_flag=True, help="Print the codebook and problems as JSON.")
def import_cmd(file: Path, output: Path | None, codebook_id: str | None, as_json: bool) -> None:
    """Import a REFI-QDA codebook (FILE.qdc from NVivo, ATLAS.ti, MAXQDA, QualCoder),
    or the codebook of a project (FILE.qdpx), as a ptmcoder YAML codebook; what could
    not be carried over, and code ids that are not GUIDs, are listed on stderr."""
    from ptmcoder.export.qdc import read_qdc

    if codebook_id is None and output is not None:
        codebook_id = output.stem
    result = read_qdc(file, codebook_id=codebook_id)
    err = make_console(stderr=True)
    if as_json:
        print_json(
            {
                "codebook": result.codebook.model_dump(mode="json", exclude_defaults=True),
                "recognised": result.recognised,
                "non_guid_ids": result.non_guid_ids,
                "problems": [str(p) for p in result.problems],
            }
        )
    elif output is None:
        sys.stdout.write(result.yaml())
    if output is not None:
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(result.yaml(), encoding="utf-8")
        err.print(f"wrote {output}", markup=False)
    book = result.codebook
    err.print(
        f"{len(list(book.walk()))} codes, {len(book.special)} special, levels "
        f"{' > '.join(book.levels)}"
        + (f"; GUIDs of codebook {result.recognised}" if result.recognised else "")
        + (f"; {result.non_guid_ids} id(s) not GUIDs" if result.non_guid_ids else "")
    )
    for problem in result.problems:
        err.print(f"  - {problem}", markup=False)


@codebook.command("propose")
@click.argument("ref")
@click.option("--from-review", "run_ref", required=True, help="Run whose review notes to use.")
@click.option("--out", "out_dir", default=None, help="Directory (default: workspace codebooks/).")
@click.option("--json", "as_json", is_flag=True, help="Print the result as JSON.")
def propose_cmd(ref: str, run_ref: str, out_dir: str | None, as_json: bool) -> None:
    """Write a new version of codebook REF with the codes proposed in a review
    ("no code fits" notes grouped by similarity), with their provenance."""
    from ptmcoder.cli.review import propose_command

    propose_command(ref, run_ref, out_dir, as_json)
