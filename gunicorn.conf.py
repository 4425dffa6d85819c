"""gunicorn settings for mlstrat's web process (read by the Dockerfile's command and by
bench/load_sheet.py, so the load figures are those of what ships). Environment:
WEB_CONCURRENCY (processes) and WEB_THREADS (threads per process)."""

import multiprocessing
import os

bind = os.environ.get("WEB_BIND", "0.0.0.0:8000")
# Processes rather than many threads: a page render holds the GIL, and a tick waiting
# behind it in the same process is what makes the slow tail.
workers = int(os.environ.get("WEB_CONCURRENCY", multiprocessing.cpu_count() * 2 + 1))
threads = int(os.environ.get("WEB_THREADS", 2))
worker_class = "gthread"
timeout = 60
# Longer than an annotator's think time, so idle keep-alive connections are not closed
# just as a client reuses them (connection reset by peer).
keepalive = 30
