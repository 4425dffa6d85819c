"""The row-checking children of an import stop when their pool is terminated, whatever
SIGTERM handler the process that forks them has (a Celery pool process has one that does
not exit). Before, a child waiting on the task queue's lock, which Pool.terminate() holds,
caught the SIGTERM, went on waiting, and the import hung for ever in its close()."""

import os
import signal
import time
import zipfile

import pytest

from mlstrat.imports import checkers
from mlstrat.imports.dumps import open_dump
from mlstrat.imports.rowchecks import RowContext
from mlstrat.imports.validation import REQUIRED_COLUMNS, Header

from .builders import png_bytes

pytestmark = pytest.mark.skipif(not hasattr(os, "fork"), reason="forked children")


def _dump_zip(tmp_path, images: int):
    path = tmp_path / "dump.zip"
    png = png_bytes()
    with zipfile.ZipFile(path, "w") as archive:
        archive.writestr("predictions.csv", "example_id,image,label,prediction,split\n")
        for i in range(images):
            archive.writestr(f"images/{i}.png", png)
    return path


def _checker(dump, attempt: int = 1):
    context = RowContext(
        header=Header(REQUIRED_COLUMNS),
        classes=None,
        task_classes={},
        dataset_id=1,
        copy=True,
        now="2026-11-29T00:00:00+00:00",
    )
    return checkers.RowChecker(
        dump=dump, context=context, job_id=1, attempt=attempt, rows=checkers.PARALLEL_MIN_ROWS
    )


def _rows(count: int) -> list:
    return [
        (i, dict(zip(REQUIRED_COLUMNS, values, strict=True)), None)
        for i in range(count)
        for values in [[f"e{i}", f"images/{i}.png", "a", "a", "dev"]]
    ]


def _catches(pid: int, signum: int, field: str = "SigCgt") -> bool:
    """Whether the process has a handler of its own for the signal (Linux's SigCgt), or
    with field="SigBlk" whether its main thread blocks it."""
    with open(f"/proc/{pid}/status") as status:
        caught = next(line for line in status if line.startswith(f"{field}:")).split()[1]
    return bool(int(caught, 16) >> (signum - 1) & 1)


@pytest.mark.skipif(not os.path.exists("/proc/self/status"), reason="reads Linux's /proc")
def test_the_children_take_sigterm_as_it_comes_though_the_parent_catches_it(tmp_path, settings):
    settings.MLSTRAT_IMPORT_PROCESSES = 2
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)  # as Celery's pool
    try:
        assert _catches(os.getpid(), signal.SIGTERM)
        with open_dump(path=str(_dump_zip(tmp_path, 4))) as dump:
            checker = _checker(dump)
            try:
                results = list(checker.submit(_rows(4), {}))
                results += list(checker.finish())
                assert [r[0] for _pack, rows in results for r in rows] == [0, 1, 2, 3]
                assert all(r[2] == [] for _pack, rows in results for r in rows)
                children = list(checker._pool._pool)
                assert len(children) == 2
                # Once started (their initializer ran), SIGTERM kills them.
                deadline = time.monotonic() + 5
                while any(_catches(c.pid, signal.SIGTERM) for c in children):
                    assert time.monotonic() < deadline, "a child catches SIGTERM"
                    time.sleep(0.02)
                # SIGTERM is held back only while the children are forked.
                assert not any(_catches(c.pid, signal.SIGTERM, "SigBlk") for c in children)
                assert signal.SIGTERM not in signal.pthread_sigmask(signal.SIG_BLOCK, set())
            finally:
                _close_within(checker, seconds=20)
    finally:
        signal.signal(signal.SIGTERM, previous)


def test_closing_the_checker_never_waits_on_a_child(tmp_path, settings):
    """The race itself, many times over: idle children, one holding the queue's read lock
    and the others waiting on it, then terminate(). Each close takes well under a second."""
    settings.MLSTRAT_IMPORT_PROCESSES = 4
    previous = signal.signal(signal.SIGTERM, lambda signum, frame: None)
    try:
        with open_dump(path=str(_dump_zip(tmp_path, 8))) as dump:
            for attempt in range(15):
                checker = _checker(dump, attempt)
                list(checker.submit(_rows(8), {}))
                list(checker.finish())
                started = time.monotonic()
                _close_within(checker, seconds=20)
                assert time.monotonic() - started < 20
    finally:
        signal.signal(signal.SIGTERM, previous)


def _close_within(checker, *, seconds):
    """checker.close(), failing the test (and killing the children) if it hangs."""
    import threading

    children = list(checker._pool._pool)
    done = threading.Event()
    closer = threading.Thread(target=lambda: (checker.close(), done.set()), daemon=True)
    closer.start()
    if not done.wait(seconds):
        for child in children:
            if child.is_alive():
                os.kill(child.pid, signal.SIGKILL)
        closer.join(5)
        pytest.fail("closing the row checker waited on a child that caught SIGTERM")
