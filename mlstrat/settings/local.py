"""Embedded default for `make run`: SQLite, in-process tasks, DEBUG on."""

from .base import *  # noqa: F403
