"""Where an import's row checks run: in its own process for a small dump, in forked child
processes (one per core, MLSTRAT_IMPORT_PROCESSES) for a big one, so both cores work:
the children clean the rows, decode and pack the images and make the COPY text
(rowchecks.py) while the import's process reads the table and writes.

The children are forked once the header is read: they inherit the dump and the rows'
context (a module global set just before the fork), and each task sends them only its
chunk of rows and what the dataset stores for those rows' ids. Results come back oldest
first, so the import applies them in line order.
"""

import ctypes
import multiprocessing
import os
import signal
import threading
from collections import deque
from contextlib import contextmanager

from django.conf import settings

from .packs import pack_name
from .rowchecks import RowContext, check_rows

# Below this many rows, the import's process checks them itself (forking costs more).
PARALLEL_MIN_ROWS = 2000

# Held by the import's heartbeat thread while it talks to the database, and while the
# children are forked: a child forked while that thread held a lock (in libpq, say) would
# inherit it held. (The hang first blamed on this, a child in futex_wait with the attempt
# alive by its heartbeat, was the SIGTERM handler the children inherited: _child_start.)
FORK_LOCK = threading.Lock()

# (dump, RowContext) the children work with, set in the parent before they are forked.
_CHILD = None


def _child_start() -> None:
    # Die with the parent (a worker killed with SIGKILL leaves no orphan checking on);
    # Linux only, harmless elsewhere.
    try:
        ctypes.CDLL(None).prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):
        pass
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    # Pool.terminate() stops the children with SIGTERM, and a child forked from a Celery
    # pool process inherits that process's Python handler for it, which does not exit: a
    # child waiting on the task queue's lock (which terminate() holds) then waited for ever
    # and the attempt with it, kept alive by its heartbeat (seen: the pool process in
    # do_wait joining, the child in futex_wait on the queue's SemLock, SIGTERM caught).
    # SIGTERM was blocked across the fork (RowChecker), so one sent before this line
    # waits, and is taken as it comes once unblocked.
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGTERM})
    # Each child reads the archive through its own file: a shared file offset would mix
    # up the reads of several processes. (The children never touch the database: the
    # parent's connection, which they inherit, is in the middle of its transaction.)
    _CHILD[0].reopen()


@contextmanager
def _sigterm_blocked():
    """SIGTERM held back in this thread while the children are forked: a child inherits
    the mask, so a SIGTERM reaching it before `_child_start` restored the default action
    is not lost to the inherited handler (a terminate() right after the pool started).
    This process gets any it was sent once the block ends."""
    previous = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)


def _child_check(pack: str, items: list, stored: dict):
    dump, context = _CHILD
    return check_rows(dump=dump, context=context, pack=pack, items=items, stored=stored)


def import_processes() -> int:
    configured = settings.MLSTRAT_IMPORT_PROCESSES
    return configured if configured > 0 else (os.cpu_count() or 1)


class RowChecker:
    """Hands chunks of rows to child processes (or checks them here when the dump is
    small, or one process is configured) and yields their results in order: for each
    chunk, (pack name or None, [result per row]) as rowchecks.check_rows gives them."""

    def __init__(self, *, dump, context: RowContext, job_id: int, attempt: int, rows: int):
        self.dump = dump
        self.context = context
        self.job_id = job_id
        self.attempt = attempt
        self._numbers = 0
        self._pending = deque()
        processes = import_processes()
        self._pool = None
        if processes > 1 and rows >= PARALLEL_MIN_ROWS and dump.can_reopen:
            global _CHILD
            _CHILD = (dump, context)
            # A Celery prefork child is a "daemonic" process, which multiprocessing lets
            # have no children of its own (they could outlive it). Ours cannot: they die
            # with their parent (`_child_start`), so the flag is lifted while they run.
            self._daemon = multiprocessing.current_process()._config.pop("daemon", None)
            forking = multiprocessing.get_context("fork")
            with FORK_LOCK, _sigterm_blocked():
                self._pool = forking.Pool(processes, initializer=_child_start)
            # Chunks queued ahead per child: enough that none waits while the parent
            # writes a batch.
            self._window = 2 * processes

    @property
    def parallel(self) -> bool:
        return self._pool is not None

    def submit(self, items: list, stored: dict):
        """Queue a chunk; yields the chunks finished meanwhile (oldest first)."""
        self._numbers += 1
        name = pack_name(job_id=self.job_id, attempt=self.attempt, number=self._numbers)
        if self._pool is None:
            yield check_rows(
                dump=self.dump, context=self.context, pack=name, items=items, stored=stored
            )
            return
        self._pending.append(self._pool.apply_async(_child_check, (name, items, stored)))
        while len(self._pending) > self._window or (self._pending and self._pending[0].ready()):
            yield self._pending.popleft().get()

    def finish(self):
        while self._pending:
            yield self._pending.popleft().get()

    def close(self) -> None:
        global _CHILD
        if self._pool is not None:
            self._pool.terminate()
            self._pool.join()
            self._pool = None
            if self._daemon is not None:
                multiprocessing.current_process()._config["daemon"] = self._daemon
        _CHILD = None
