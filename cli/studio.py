"""`mlxmed studio`: the local web app for labelling, training and reviewing."""

from __future__ import annotations

from pathlib import Path

import click
from mlxmed.cli.common import console, esc


@click.command("studio")
@click.argument("workspace", required=False, default=".",
                type=click.Path(file_okay=False, exists=True, path_type=Path))
@click.option("--port", type=int, default=0, show_default="any free port",
              help="Port on 127.0.0.1 to listen on.")
@click.option("--no-browser", is_flag=True, help="Only print the address; open it yourself.")
def studio(workspace: Path, port: int, no_browser: bool) -> None:
    """Label notes, train, and review extracted answers in your browser, on this computer.

    WORKSPACE is the folder with your task files and notes (default: the current folder);
    labels, data folders, runs and reports are created inside it. The server listens on
    127.0.0.1 only and lets in only the browser that opens the printed link (it carries a
    one-time token). Stop it with Ctrl-C; a running training job stops safely and can be
    resumed.

    Example: mlxmed studio ~/studies/smoking
    """
    from mlxmed.studio.server import serve

    def announce(url: str) -> None:
        console.print(f"mlxmed studio for {esc(workspace.resolve())}", highlight=False)
        console.print(f"Open: {esc(url)}", highlight=False, soft_wrap=True)
        console.print("Press Ctrl-C to stop.", highlight=False)

    serve(workspace, port=port, open_browser=not no_browser, announce=announce)
