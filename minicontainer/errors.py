"""The error every runtime failure becomes, and how it reads in one line."""

from __future__ import annotations

EXIT_RUNTIME_ERROR = 125


class ContainerError(Exception):
    """A container could not be started or managed; ``exit_code`` is what the CLI exits with."""

    def __init__(self, message: str, exit_code: int = EXIT_RUNTIME_ERROR) -> None:
        super().__init__(message)
        self.exit_code = exit_code


def describe(e: BaseException) -> str:
    """One line for an error: ``mount /proc (Operation not permitted)``."""
    if isinstance(e, OSError) and e.strerror:
        return f"{e.filename} ({e.strerror})" if e.filename else e.strerror
    if isinstance(e, (ContainerError, ValueError)):
        return str(e)
    return f"{type(e).__name__}: {e}"
