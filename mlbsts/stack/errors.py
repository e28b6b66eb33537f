"""Errors of the embedded local stack.

Every error says what went wrong and what to do about it, in one line::

    StackError                  base: anything the stack cannot do
    ├── SettingsError           a setting the local stack cannot use (host not loopback, ...)
    ├── BinaryNotFoundError     a server binary is missing from the virtual environment
    ├── PortTakenError          a port is held by a process the stack did not start
    ├── StartupError            a server exited or did not become healthy in time (names its log)
    ├── ProvisionError          creating topics, buckets, roles or applying migrations failed
    ├── StopError               a process the stack started survived SIGKILL
    └── TrimError               the log trimmer is not passing, or its last pass failed
"""

from __future__ import annotations


class StackError(Exception):
    """Base of every error of the local stack; ``str(err)`` is one actionable line."""


class SettingsError(StackError):
    """A setting cannot be used by the local stack."""


class BinaryNotFoundError(StackError):
    """A server binary is missing."""


class PortTakenError(StackError):
    """A port the stack needs is held by a process it did not start."""


class StartupError(StackError):
    """A server exited early or did not become healthy before the timeout."""


class ProvisionError(StackError):
    """Topics, buckets, roles/databases or migrations could not be created."""


class StopError(StackError):
    """A process the stack started is still alive after SIGKILL."""


class TrimError(StackError):
    """The log trimmer has not passed for too long, or its last pass failed."""
