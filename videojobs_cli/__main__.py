"""`python -m videojobs_cli`: the `videojobs` command, for a child process started with this interpreter."""

from videojobs_cli.cli import main

main()
