"""The `pippa` command: thin Typer commands over the importable core."""
