"""User-facing errors.

Anything a user can cause (a wrong board name, a corrupt model file, a missing tool) is raised as a
``WorkbenchError``; the CLI prints its message as one line on stderr and exits with ``exit_code``.
Everything else is a bug and keeps its traceback.
"""


class WorkbenchError(Exception):
    """An error the user can act on; the message is one line that names the problem."""

    exit_code = 2

    def __init__(self, message: str, exit_code: int | None = None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class DeviceError(WorkbenchError):
    """The device or emulator misbehaved (crash, silence, protocol failure)."""

    exit_code = 3


class Interrupted(WorkbenchError):
    """The user stopped the work (Ctrl-C, SIGTERM); the message says what was kept. Not an error of
    theirs: the CLI prints it without 'error:' and exits 130."""

    exit_code = 130
