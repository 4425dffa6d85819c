"""Load: simulated annotators tick and page through sheets against a real server.

    psql -h 127.0.0.1 -U postgres -c "CREATE DATABASE mlstrat_load_bench"
    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_load_bench \\
        .venv/bin/python bench/load_sheet.py [--examples 1000000] [--users 50] \\
        [--seconds 300] [--keep | --reuse]

Loads a dataset of N examples with bench/sheet_bench.py's COPY loader (or reuses the one
a --keep run left), adds one annotator account per simulated user (API token and browser
session), starts gunicorn on loopback and runs a locust swarm for a bounded time: each
user pages through the run's dev errors (sheet page HTML and the rows API, keyset
cursor) and sets or clears ticks on the rows it saw (idempotent PUT/DELETE), with 1-3 s
of thinking between actions. Prints p50/p95/p99 per request kind and the errors, checks
the targets (tag write p99 < 100 ms, sheet page p95 < 300 ms, zero errors), and checks
that the ticks equal the replay of the audit log and that each answered tick wrote one
audit row. The database must be a scratch one (its name contains "bench").

`swarm` is the locust part alone (no Django), also used by tests/test_load_smoke.py:

    .venv/bin/python bench/load_sheet.py swarm --config cfg.json --host URL \\
        --users 10 --seconds 15 --out results.json
"""

import argparse
import itertools
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
GRACE_SECONDS = 5  # for requests in flight when the time is up
TARGETS = {"tag write": ("p99", 100), "sheet page": ("p95", 300), "sheet rows API": ("p95", 300)}


# ---------------------------------------------------------------- accounts (Django)


def annotator_config(*, project, run, users, categories, review=None) -> dict:
    """What the swarm needs to act as `users`: a token and a session per person."""
    from importlib import import_module

    from django.conf import settings
    from django.contrib.auth import BACKEND_SESSION_KEY, HASH_SESSION_KEY, SESSION_KEY

    from mlstrat.accounts.services import token_create

    store = import_module(settings.SESSION_ENGINE).SessionStore
    people = []
    for user in users:
        session = store()
        session[SESSION_KEY] = str(user.pk)
        session[BACKEND_SESSION_KEY] = "django.contrib.auth.backends.ModelBackend"
        session[HASH_SESSION_KEY] = user.get_session_auth_hash()
        session.create()
        _, secret = token_create(user=user, name="load test", days=1)
        people.append({"id": user.pk, "token": secret, "session": session.session_key})
    return {
        "project": project.slug,
        "run": run.pk,
        "review": review.pk if review else None,
        "categories": [c.pk for c in categories],
        "session_cookie": settings.SESSION_COOKIE_NAME,
        "people": people,
    }


def audit_check(*, run_id: int, ticks_ok: dict, since_id: int = 0) -> dict:
    """Ticks touched during the swarm equal the replay of their audit rows, and each
    answered tick wrote exactly one audit row (per person; rows after `since_id`)."""
    from collections import Counter

    from mlstrat.review.models import Tag, TagEvent

    state, wrong_changed = {}, 0
    per_user = Counter()
    for event in TagEvent.objects.filter(run_id=run_id).order_by("id").iterator():
        key = (event.example_id, event.category_id, event.user_id)
        before, after = state.get(key, None), event.action == "set"
        if before is not None and event.changed != (before != after):
            wrong_changed += 1
        state[key] = after
        if event.pk > since_id:
            per_user[str(event.user_id)] += 1
    touched_users = {user for _, _, user in state}
    stored = set(
        Tag.objects.filter(run_id=run_id, user_id__in=touched_users).values_list(
            "example_id", "category_id", "user_id"
        )
    )
    mismatched = [key for key, on in state.items() if (key in stored) != on]
    return {
        "audit_rows": sum(per_user.values()),
        "ticks_answered_2xx": sum(ticks_ok.values()),
        "audit_rows_match_2xx": {u: per_user[u] for u in ticks_ok} == ticks_ok,
        "ticks_equal_replay": not mismatched,
        "wrong_changed_flags": wrong_changed,
    }


# ---------------------------------------------------------------- the swarm (locust)


def swarm(*, config: dict, host: str, users: int, seconds: float, spawn_rate: float) -> dict:
    """Run locust in this process for `seconds`; return the figures. Imported here:
    locust monkey-patches the standard library with gevent on import."""
    import gevent
    from locust import HttpUser, between, events, task
    from locust.env import Environment

    statuses = {}
    ticks_ok = {}

    @events.request.add_listener
    def count(name, response, exception, context, **kwargs):
        code = getattr(response, "status_code", 0) if exception is None else 0
        statuses.setdefault(name, {}).setdefault(str(code), 0)
        statuses[name][str(code)] += 1
        if name == "tag write" and 200 <= code < 300:
            person = str(context["person"])
            ticks_ok[person] = ticks_ok.get(person, 0) + 1

    people = list(config["people"])
    arrivals = itertools.count()
    # At the end no new request starts, and those in flight finish before the users stop
    # (killed mid-request, a tick could be applied without its answer being counted).
    closing = {"now": False}
    run = config["run"]
    sheet_page = f"/p/{config['project']}/runs/{run}/sheet/"

    class Annotator(HttpUser):
        wait_time = between(1, 3)

        def on_start(self):
            self.person = people[next(arrivals) % len(people)]
            self.rnd = random.Random(self.person["id"])
            self.client.headers["Authorization"] = f"Token {self.person['token']}"
            self.cursor = None
            self.seen = []
            self.next_page()

        def context(self):
            return {"person": self.person["id"]}

        @task(2)
        def next_page(self):
            if closing["now"]:
                return
            query = f"?after={self.cursor}" if self.cursor else ""
            with self.client.get(
                f"/api/v1/runs/{run}/sheet/{query}", name="sheet rows API", catch_response=True
            ) as response:
                if response.status_code != 200:
                    response.failure(f"{response.status_code}")
                    return
                page = response.json()
                self.seen = [row["example"] for row in page["rows"]] or self.seen
                self.cursor = page["next"]

        @task(1)
        def sheet_page(self):
            if closing["now"]:
                return
            query = f"?after={self.cursor}" if self.cursor else ""
            cookies = {config["session_cookie"]: self.person["session"]}
            self.client.get(sheet_page + query, name="sheet page", cookies=cookies)

        @task(4)
        def tick(self):
            if closing["now"]:
                return
            if not self.seen:
                return
            example = self.rnd.choice(self.seen)
            category = self.rnd.choice(config["categories"])
            url = f"/api/v1/runs/{run}/examples/{example}/tags/{category}/"
            verb = self.client.put if self.rnd.random() < 0.6 else self.client.delete
            verb(url, name="tag write", context=self.context())

    Annotator.host = host
    env = Environment(user_classes=[Annotator], events=events)
    runner = env.create_local_runner()
    runner.start(users, spawn_rate=spawn_rate)
    gevent.spawn_later(seconds, closing.update, now=True)
    gevent.spawn_later(seconds + GRACE_SECONDS, runner.quit)
    runner.greenlet.join()

    kinds = {}
    for (name, _method), entry in sorted(env.stats.entries.items()):
        kind = kinds.setdefault(name, {"requests": 0, "failures": 0, "entries": []})
        kind["requests"] += entry.num_requests
        kind["failures"] += entry.num_failures
        kind["entries"].append(entry)
    report = {}
    for name, kind in kinds.items():
        merged = kind["entries"][0]
        for other in kind["entries"][1:]:
            merged = _merged(merged, other)
        report[name] = {
            "requests": kind["requests"],
            "failures": kind["failures"],
            "p50": merged.get_response_time_percentile(0.50),
            "p95": merged.get_response_time_percentile(0.95),
            "p99": merged.get_response_time_percentile(0.99),
            "max": round(merged.max_response_time or 0, 1),
            "statuses": statuses.get(name, {}),
        }
    total = env.stats.total
    return {
        "users": users,
        "seconds": seconds,
        "requests": total.num_requests,
        "failures": total.num_failures,
        "rps": round(total.num_requests / seconds, 1),
        "errors": [
            {"name": e.name, "error": str(e.error), "count": e.occurrences}
            for e in env.stats.errors.values()
        ],
        "kinds": report,
        "ticks_ok": ticks_ok,
    }


def _merged(a, b):
    from locust.stats import StatsEntry

    entry = StatsEntry(a.stats, a.name, "", use_response_times_cache=False)
    entry.extend(a)
    entry.extend(b)
    return entry


def verdict(result: dict) -> list[str]:
    """The targets missed (empty: all met)."""
    missed = []
    if result["failures"] or result["errors"]:
        missed.append(f"{result['failures']} failed requests: {result['errors'][:5]}")
    for name, (stat, limit) in TARGETS.items():
        kind = result["kinds"].get(name)
        if kind and kind[stat] >= limit:
            missed.append(f"{name} {stat} {kind[stat]} ms >= {limit} ms")
    return missed


def print_table(result: dict) -> None:
    print(
        f"\n{result['users']} users, {result['seconds']:.0f} s: {result['requests']} requests "
        f"({result['rps']}/s), {result['failures']} failures"
    )
    print("\n| request | count | failures | p50 ms | p95 ms | p99 ms | max ms |")
    print("|---|---:|---:|---:|---:|---:|---:|")
    for name, k in sorted(result["kinds"].items()):
        print(
            f"| {name} | {k['requests']} | {k['failures']} | {k['p50']} | {k['p95']} "
            f"| {k['p99']} | {k['max']} |"
        )


def run_swarm_subprocess(*, config: dict, host: str, users: int, seconds: float, out: Path):
    """The swarm in its own process (gevent stays out of the Django process)."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cfg = out.with_suffix(".config.json")
    cfg.write_text(json.dumps(config))
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "swarm",
        "--config",
        str(cfg),
        "--host",
        host,
        "--users",
        str(users),
        "--seconds",
        str(seconds),
        "--out",
        str(out),
    ]
    subprocess.run(command, check=True, timeout=seconds + GRACE_SECONDS + 120, cwd=ROOT)
    return json.loads(out.read_text())


# ---------------------------------------------------------------- the full bench


def _setup_django():
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
    os.environ.setdefault("CELERY_BROKER_URL", "redis://127.0.0.1:6379/6")
    import django

    django.setup()


def prepare(*, examples: int, users: int, reuse: bool):
    sys.path.insert(0, str(ROOT / "bench"))
    import sheet_bench  # the COPY loader of the sheet benchmark

    from mlstrat.accounts.models import Membership, Project, Role, User

    existing = Project.objects.filter(slug__startswith="sheet-bench-").order_by("-pk").first()
    if reuse and existing:
        project, run, _, categories, dev_errors = sheet_bench.reuse(existing)
    else:
        project, run, _, categories, dev_errors = sheet_bench.load(examples)
    annotators = []
    for i in range(users):
        user = User.objects.get_or_create(username=f"loadbench{i}")[0]
        Membership.objects.get_or_create(
            project=project, user=user, defaults={"role": Role.ANNOTATOR}
        )
        annotators.append(user)
    print(f"{len(dev_errors):,} dev errors to page through, {users} annotators")
    return annotator_config(project=project, run=run, users=annotators, categories=categories)


def start_server(port: int) -> subprocess.Popen:
    """gunicorn with the shipped settings (gunicorn.conf.py), on loopback."""
    env = {
        **os.environ,
        "DEBUG": "0",
        "CONN_MAX_AGE": "60",
        "WEB_BIND": f"127.0.0.1:{port}",
        "CACHE_URL": os.environ.get("CACHE_URL", "redis://127.0.0.1:6379/7"),
    }
    server = subprocess.Popen(
        [
            str(ROOT / ".venv" / "bin" / "gunicorn"),
            "mlstrat.wsgi:application",
            "--config",
            str(ROOT / "gunicorn.conf.py"),
            "--log-level",
            "warning",
        ],
        cwd=ROOT,
        env=env,
    )
    import urllib.request

    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/healthz", timeout=2)
            return server
        except OSError:
            time.sleep(0.5)
    server.kill()
    raise SystemExit("gunicorn did not start")


def main_bench(args):
    _setup_django()
    from copyload import scratch_database
    from django.core.management import call_command

    scratch_database()
    config = prepare(examples=args.examples, users=args.users, reuse=args.reuse)
    from django.db.models import Max

    from mlstrat.review.models import TagEvent

    since_id = TagEvent.objects.aggregate(last=Max("id"))["last"] or 0
    server = start_server(args.port)
    try:
        result = run_swarm_subprocess(
            config=config,
            host=f"http://127.0.0.1:{args.port}",
            users=args.users,
            seconds=args.seconds,
            out=OUT / "load_sheet.json",
        )
    finally:
        server.terminate()
        server.wait(timeout=30)
    result["audit"] = audit_check(
        run_id=config["run"], ticks_ok=result["ticks_ok"], since_id=since_id
    )
    (OUT / "load_sheet.json").write_text(json.dumps(result, indent=2))
    print_table(result)
    print("\naudit:", json.dumps(result["audit"]))
    missed = verdict(result)
    audit = result["audit"]
    if not (audit["audit_rows_match_2xx"] and audit["ticks_equal_replay"]):
        missed.append("ticks and audit log disagree")
    print("targets met" if not missed else "MISSED: " + "; ".join(missed))
    if not args.keep:
        call_command("flush", interactive=False, verbosity=0)
    from mlstrat.celery import app

    app.control.purge()
    return 1 if missed else 0


def main_swarm(args):
    config = json.loads(Path(args.config).read_text())
    result = swarm(
        config=config,
        host=args.host,
        users=args.users,
        seconds=args.seconds,
        spawn_rate=max(1.0, args.users / 10),
    )
    Path(args.out).write_text(json.dumps(result, indent=2))
    print_table(result)
    return 0


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    bench = sub.add_parser("bench")
    swarm_cmd = sub.add_parser("swarm")
    for p in (parser, bench):
        p.add_argument("--examples", type=int, default=1_000_000)
        p.add_argument("--users", type=int, default=50)
        p.add_argument("--seconds", type=float, default=300)
        p.add_argument("--port", type=int, default=8731)
        p.add_argument("--keep", action="store_true", help="leave the data for --reuse")
        p.add_argument("--reuse", action="store_true", help="use the data a --keep run left")
    swarm_cmd.add_argument("--config", required=True)
    swarm_cmd.add_argument("--host", required=True)
    swarm_cmd.add_argument("--users", type=int, default=10)
    swarm_cmd.add_argument("--seconds", type=float, default=15)
    swarm_cmd.add_argument("--out", required=True)
    args = parser.parse_args()
    if args.command == "swarm":
        return main_swarm(args)
    return main_bench(args)


if __name__ == "__main__":
    sys.exit(main())
