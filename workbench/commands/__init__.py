"""The ``workbench`` subcommands, one module per group; each has ``register(subparsers)``.

``workbench/cli.py`` lists the modules in COMMANDS; adding a command is a new module here and one
entry there.
"""
