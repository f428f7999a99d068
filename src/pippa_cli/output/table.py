"""Rows of data as an aligned table on a terminal (`pippa status`'s job list)."""

from __future__ import annotations

from collections.abc import Collection, Sequence

from pippa_cli.text import visible


def print_table(
    header: Sequence[str], rows: Sequence[Sequence[str]], *, squeeze: Collection[str] = ()
) -> None:
    """One line per row on stdout, cut with an ellipsis to the terminal's width."""
    from rich.console import Console
    from rich.table import Table
    from rich.text import Text

    # expand: the column ratios apply only then; without it a long prompt pushes the ID
    # and OUTPUT columns off the screen.
    table = Table(box=None, pad_edge=False, header_style="bold", expand=True)
    for index, column in enumerate(header):
        # Short columns keep their width; the squeezed ones share what is left.
        squeezed = column in squeeze
        widest = max(len(row[index]) for row in (header, *rows))
        table.add_column(
            column,
            no_wrap=True,
            overflow="ellipsis",
            ratio=1 if squeezed else None,
            min_width=8 if squeezed else widest,
        )
    for row in rows:
        # Prompts and errors are neither markup nor terminal codes.
        table.add_row(*(Text(visible(value)) for value in row))
    Console(highlight=False).print(table)
