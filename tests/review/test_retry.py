import pytest
from django.db import OperationalError

from mlstrat.review.services import retry_on_conflict


class PgError(Exception):
    def __init__(self, pgcode):
        self.pgcode = pgcode


def failing(times, pgcode):
    calls = []

    def write():
        calls.append(1)
        if len(calls) <= times:
            raise OperationalError("deadlock detected") from PgError(pgcode)
        return "saved"

    return write, calls


@pytest.mark.django_db(transaction=True)
def test_a_deadlocked_write_is_retried():
    write, calls = failing(2, "40P01")
    assert retry_on_conflict(write)() == "saved"
    assert len(calls) == 3


@pytest.mark.django_db(transaction=True)
def test_a_serialization_failure_is_retried_a_few_times_then_reported():
    write, calls = failing(10, "40001")
    with pytest.raises(OperationalError):
        retry_on_conflict(write)()
    assert len(calls) == 4


@pytest.mark.django_db(transaction=True)
def test_other_errors_are_not_retried():
    write, calls = failing(1, "08006")
    with pytest.raises(OperationalError):
        retry_on_conflict(write)()
    assert len(calls) == 1


@pytest.mark.django_db(transaction=True)
def test_a_locked_sqlite_table_is_retried(settings):
    from django.db import connection

    calls = []

    def write():
        calls.append(1)
        if len(calls) == 1:
            raise OperationalError("database table is locked: review_tag")
        return "saved"

    if connection.vendor != "sqlite":
        pytest.skip("SQLite only")
    assert retry_on_conflict(write)() == "saved"
