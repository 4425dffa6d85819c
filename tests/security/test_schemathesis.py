"""A bounded schemathesis run against the OpenAPI schema, in-process through WSGI with a
token: generated requests (valid ones and, for each operation, invalid ones: negative data)
never get a 5xx, and every answer matches the schema; then chains of calls linked by the ids
they return (stateful) never get a 5xx either. Small `max_examples` keeps the whole run
around a minute.

schemathesis's own pytest loader (`from_fixture`) reads a private pytest attribute that
pytest 9 dropped, so the operations are walked here with plain hypothesis `@given`."""

import pytest
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections, transaction
from hypothesis import HealthCheck, given, settings, strategies
from hypothesis.errors import Unsatisfiable

from tests.factories import api_token

from .world import build_world

# Until pyproject's test extras pin it (schemathesis==4.32.5), a machine without it skips.
schemathesis = pytest.importorskip("schemathesis")
GenerationMode = schemathesis.GenerationMode
checks = schemathesis.checks

# A chunk of a resumable upload (PATCH /api/v1/import-uploads/<id>/) is raw bytes.
schemathesis.openapi.media_type("application/offset+octet-stream", strategies.binary(max_size=64))

MAX_EXAMPLES = 3
STATEFUL_SCENARIOS = 15
STATEFUL_STEPS = 6
CHECKS = [checks.not_a_server_error, checks.response_schema_conformance]


@pytest.fixture
def token(project, alice, bob, carol):
    build_world(project=project, user=alice, marker="OURS")
    return api_token(alice)


@pytest.fixture(autouse=True)
def _keep_the_test_connection():
    """Requests go through the real WSGI handler, which closes the database connection
    after each one; the test's transaction lives on it, so keep it open (as Django's
    test client does)."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    yield
    request_started.connect(close_old_connections)
    request_finished.connect(close_old_connections)


def _operations(token):
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json",
        get_wsgi_application(),
        headers={"Authorization": f"Token {token}"},
    )
    return [result.ok() for result in schema.get_all_operations()]


def _exercise(operation, token, mode):
    headers = {"Authorization": f"Token {token}"}

    @given(case=operation.as_strategy(generation_mode=mode))
    @settings(
        max_examples=MAX_EXAMPLES,
        deadline=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
        database=None,
    )
    def run(case):
        case.call_and_validate(headers=headers, checks=CHECKS)

    run()


def test_the_api_keeps_its_schema(token):
    operations = _operations(token)
    assert len(operations) > 40
    failures = []
    for operation in operations:
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            try:
                _exercise(operation, token, mode)
            except Unsatisfiable:
                continue  # no invalid request can be built (e.g. no parameters at all)
            except (Exception, BaseExceptionGroup) as exc:  # every failure, not the first
                failures.append(f"{operation.label} [{mode.value}]: {exc}")
    assert failures == [], "\n\n".join(failures)


def test_call_sequences_never_get_a_server_error(token):
    """Stateful: schemathesis chains operations through the links it infers from the schema
    (a POST's returned id fed to the GET/PATCH/DELETE of that object, and so on), with the
    same token; no step may answer 5xx. Bounded to a few short scenarios."""
    schema = schemathesis.openapi.from_wsgi(
        "/api/v1/schema/?format=json",
        get_wsgi_application(),
        headers={"Authorization": f"Token {token}"},
    )
    machine = schema.as_state_machine()
    headers = {"Authorization": f"Token {token}"}

    class Sequences(machine):
        """Each scenario starts from the same data: its writes are rolled back when it ends.
        Hypothesis replays a scenario's first steps to explore from them, and answers that
        depend on what earlier scenarios left behind (a list one item longer) made those
        replays draw differently: FlakyStrategyDefinition, not a finding."""

        def __init__(self):
            super().__init__()
            self._scenario = transaction.atomic()
            self._scenario.__enter__()

        def teardown(self):
            transaction.set_rollback(True)
            self._scenario.__exit__(None, None, None)
            super().teardown()

        def get_call_kwargs(self, case):
            return {"headers": headers}

        def validate_response(self, response, case, **kwargs):
            case.validate_response(response, checks=[checks.not_a_server_error])

    Sequences.run(
        settings=settings(
            max_examples=STATEFUL_SCENARIOS,
            stateful_step_count=STATEFUL_STEPS,
            deadline=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
    )
