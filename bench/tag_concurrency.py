"""Concurrency: 20 clients set and clear ticks on the same examples for 60 s against a
running server (gunicorn on loopback, PostgreSQL), then check the audit log.

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE mlstrat_tags_bench"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_tags_bench \\
        .venv/bin/python bench/tag_concurrency.py [--clients 20] [--seconds 60] [--examples 4]

Ten annotator accounts, two clients each (two tabs: the same tick races itself), on a
handful of examples and two categories, through the real API (PUT/DELETE of one tick,
POST set/clear). Afterwards: the ticks equal the replay of the audit log (last action per
tick wins, in id order), every 2xx wrote exactly one audit row (per person), no
duplicate tick, no 5xx, and a retried identical request applies once. The short version
runs in CI: tests/review/test_tag_concurrency.py. The database must be a scratch one (its
name contains "bench"); it is emptied at the end.
"""

import argparse
import random
import sys
import threading
import time
from collections import Counter
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))
import load_sheet  # noqa: E402  (server start and audit check)

load_sheet._setup_django()


def world(*, examples: int, accounts: int):
    from django.utils import timezone

    from mlstrat.accounts.models import Membership, Project, Role, User
    from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus
    from mlstrat.review.services import category_create

    stamp = int(time.time())
    project = Project.objects.create(name="tag bench", slug=f"tag-bench-{stamp}")
    dataset = Dataset.objects.create(project=project, name="pets", class_names=["cat", "dog"])
    run = ModelRun.objects.create(
        dataset=dataset, name="r1", status=RunStatus.READY, imported_at=timezone.now()
    )
    for i in range(examples):
        example = Example.objects.create(
            dataset=dataset, example_id=f"e{i}", label="cat", original_label="cat", split="dev"
        )
        Prediction.objects.create(
            run=run, example=example, split="dev", predicted_label="dog", is_error=True
        )
    users = []
    for i in range(accounts):
        user = User.objects.get_or_create(username=f"tagbench{i}")[0]
        Membership.objects.create(project=project, user=user, role=Role.ANNOTATOR)
        users.append(user)
    categories = [
        category_create(dataset=dataset, name=name, key=key, created_by=users[0])
        for name, key in [("Blurry", "b"), ("Dark", "d")]
    ]
    return load_sheet.annotator_config(
        project=project, run=run, users=users, categories=categories
    ), list(run.predictions.values_list("example_id", flat=True))


def hammer(*, host, config, examples, clients, seconds):
    ok, statuses, slowest = Counter(), Counter(), [0.0]
    lock = threading.Lock()
    deadline = time.monotonic() + seconds
    start = threading.Barrier(clients)
    run = config["run"]

    def loop(index):
        person = config["people"][index % len(config["people"])]
        session = requests.Session()
        session.headers["Authorization"] = f"Token {person['token']}"
        rnd = random.Random(index)
        start.wait()
        while time.monotonic() < deadline:
            example, category = rnd.choice(examples), rnd.choice(config["categories"])
            verb = rnd.choice(["put", "delete", "set", "clear"])
            began = time.monotonic()
            if verb in ("put", "delete"):
                url = f"{host}/api/v1/runs/{run}/examples/{example}/tags/{category}/"
                response = session.request(verb.upper(), url, timeout=30)
            else:
                body = {"action": verb, "category": category, "example": example}
                response = session.post(f"{host}/api/v1/runs/{run}/tags/", json=body, timeout=30)
            took = time.monotonic() - began
            with lock:
                statuses[response.status_code] += 1
                slowest[0] = max(slowest[0], took)
                if 200 <= response.status_code < 300:
                    ok[str(person["id"])] += 1

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return dict(ok), statuses, slowest[0]


def retried_once(*, host, config, example):
    person = config["people"][0]
    headers = {"Authorization": f"Token {person['token']}"}
    url = f"{host}/api/v1/runs/{config['run']}/examples/{example}/tags/{config['categories'][0]}/"
    requests.delete(url, headers=headers, timeout=30)
    first = requests.put(url, headers=headers, timeout=30).json()
    again = requests.put(url, headers=headers, timeout=30).json()
    return first == {"ticked": True, "changed": True} and again == {
        "ticked": True,
        "changed": False,
    }


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--clients", type=int, default=20)
    parser.add_argument("--accounts", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--examples", type=int, default=4)
    parser.add_argument("--port", type=int, default=8732)
    args = parser.parse_args()

    from copyload import scratch_database
    from django.core.management import call_command

    from mlstrat.review.models import Tag

    scratch_database()
    config, examples = world(examples=args.examples, accounts=args.accounts)
    host = f"http://127.0.0.1:{args.port}"
    server = load_sheet.start_server(args.port)
    try:
        ok, statuses, slowest = hammer(
            host=host, config=config, examples=examples, clients=args.clients, seconds=args.seconds
        )
        audit = load_sheet.audit_check(run_id=config["run"], ticks_ok=ok)
        retry_ok = retried_once(host=host, config=config, example=examples[0])
    finally:
        server.terminate()
        server.wait(timeout=30)
    ticks = list(
        Tag.objects.filter(run_id=config["run"]).values_list("example", "category", "user")
    )
    total = sum(statuses.values())
    print(
        f"{args.clients} clients, {args.seconds:.0f} s: {total} requests "
        f"({total / args.seconds:.0f}/s), statuses {dict(statuses)}, slowest {slowest:.2f} s"
    )
    print(f"audit: {audit}")
    print(f"duplicate ticks: {len(ticks) - len(set(ticks))}; retried tick applied once: {retry_ok}")
    good = (
        set(statuses) <= {200}
        and audit["audit_rows_match_2xx"]
        and audit["ticks_equal_replay"]
        and audit["wrong_changed_flags"] == 0
        and len(ticks) == len(set(ticks))
        and retry_ok
    )
    print("all checks passed" if good else "FAILED")
    call_command("flush", interactive=False, verbosity=0)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
