"""Embedded default for `make run`: SQLite, in-process tasks, DEBUG on."""

import os

from .base import *  # noqa: F403
from .base import LOGGING

# `make run` prints the address and the logins, then stays quiet: tasks run in-process
# and would log every success ("Task ... succeeded"), and the sheet and the dashboards
# poll every few seconds (a request line each); without a broker kombu warns that it has
# no host name, and the reloader says twice that it watches files. Warnings and errors
# still show; LOG_LEVEL=INFO brings all of it back.
if "LOG_LEVEL" not in os.environ:
    LOGGING["loggers"].update(
        {
            "celery.app.trace": {"level": "WARNING"},
            "django.server": {"level": "WARNING"},
            "django.utils.autoreload": {"level": "WARNING"},
            "kombu.connection": {"level": "ERROR"},
        }
    )
