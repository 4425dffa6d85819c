"""A short load run in CI: 10 simulated annotators page through the sheet and tick for
15 s against a live server (bench/load_sheet.py's locust swarm, in its own process).
Nothing fails, and every answered tick is in the audit log and in the ticks.
The full run (50 users, 1,000,000 examples, 5 minutes) is `bench/load_sheet.py`."""

import importlib.util
from pathlib import Path

import pytest

from mlstrat.accounts.models import Role
from mlstrat.review.services import category_create
from tests.factories import DatasetFactory, MembershipFactory, RunFactory, UserFactory
from tests.review.conftest import make_errors

USERS = 10
SECONDS = 15

pytestmark = pytest.mark.django_db(transaction=True)


def load_bench():
    path = Path(__file__).resolve().parent.parent / "bench" / "load_sheet.py"
    spec = importlib.util.spec_from_file_location("load_sheet", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_ten_annotators_tick_and_page_for_fifteen_seconds_without_an_error(
    live_server, project, alice, tmp_path
):
    bench = load_bench()
    dataset = DatasetFactory(project=project, name="pets", class_names=["cat", "dog"])
    run = RunFactory(dataset=dataset, name="resnet-1")
    make_errors(run, 120)
    categories = [
        category_create(dataset=dataset, name=name, key=key, created_by=alice)
        for name, key in [("Blurry", "b"), ("Dark", "d")]
    ]
    users = [
        MembershipFactory(
            project=project, user=UserFactory(username=f"annotator{i}"), role=Role.ANNOTATOR
        ).user
        for i in range(USERS)
    ]
    config = bench.annotator_config(project=project, run=run, users=users, categories=categories)

    result = bench.run_swarm_subprocess(
        config=config,
        host=live_server.url,
        users=USERS,
        seconds=SECONDS,
        out=tmp_path / "load.json",
    )

    assert result["failures"] == 0 and result["errors"] == [], result["errors"]
    kinds = result["kinds"]
    assert kinds["tag write"]["requests"] > USERS
    assert kinds["sheet rows API"]["requests"] > USERS
    assert kinds["sheet page"]["requests"] > 0
    for kind in kinds.values():
        assert set(kind["statuses"]) == {"200"}, kind["statuses"]
    audit = bench.audit_check(run_id=run.pk, ticks_ok=result["ticks_ok"])
    assert audit["audit_rows_match_2xx"] and audit["ticks_equal_replay"], audit
    assert audit["wrong_changed_flags"] == 0
