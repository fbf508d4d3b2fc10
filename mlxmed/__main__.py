"""`python -m mlxmed` runs the command line."""

from mlxmed.cli import main

main()
