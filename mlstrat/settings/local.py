"""Embedded default for `make run`: SQLite, in-process tasks, DEBUG on."""

import os

from .base import *  # noqa: F403
from .base import CELERY_TASK_ALWAYS_EAGER, LOGGING

# `make run` prints the address and the logins, then stays quiet: the sheet and the
# dashboards poll every few seconds (a request line each) and the reloader says twice that
# it watches files; with tasks run in-process (no broker), every task would log its
# success ("Task ... succeeded") and kombu would warn that it has no host name. A real
# worker (a broker is set) keeps its task log. Warnings and errors always show;
# LOG_LEVEL=INFO brings all of it back.
if "LOG_LEVEL" not in os.environ:
    LOGGING["loggers"].update(
        {
            "django.server": {"level": "WARNING"},
            "django.utils.autoreload": {"level": "WARNING"},
        }
    )
    if CELERY_TASK_ALWAYS_EAGER:
        LOGGING["loggers"].update(
            {"celery.app.trace": {"level": "WARNING"}, "kombu.connection": {"level": "ERROR"}}
        )
