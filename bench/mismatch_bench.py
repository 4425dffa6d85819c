"""Data-mismatch benchmark, on PostgreSQL (a scratch database whose name contains 'bench'):

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/mlstrat_mismatch_bench \\
        flock /work/bench.lock .venv/bin/python bench/mismatch_bench.py [--rows 20000]

1. What measuring characteristics adds to an import: the same generated zip dump (one
   image per row) imported end to end in this process (validate, write, thumbnails), with
   the thumbnail pass's hook on and off (a no-op recorder), alternately, `--repeat` times
   each; for 32 px grey glyphs (their own thumbnails: the pass then decodes them only to
   measure them) and for 320x240 RGB photos (decoded and resized anyway).
2. Synthesis against bare Pillow: the same transforms (GaussianBlur, GaussNoise,
   ImageCompression, with parameters drawn per image) applied by a plain loop over the
   same source files (open, decode, transform, encode PNG, write), and by the synthesis
   job's chunks, in one worker process and in two.

Prints wall-clock and CPU figures and the load average; docs/benchmarks.md keeps them.
On a shared machine (load average above the 2 cores) wall clocks swing by 2x from run to
run; the CPU time of the process doing the work (and of its worker children) does not,
so ratios are given on both.
"""

import argparse
import io
import os
import random
import resource
import shutil
import statistics
import sys
import time
import zipfile
from multiprocessing import get_context
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out" / "mismatch"
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "mlstrat.settings.local")
os.environ.setdefault("MEDIA_ROOT", str(OUT / "media"))


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=20_000, help="rows of the 32 px import")
    parser.add_argument("--photos", type=int, default=3000, help="rows of the 320 px import")
    parser.add_argument("--repeat", type=int, default=2)
    parser.add_argument("--outputs", type=int, default=4000, help="synthesized images")
    parser.add_argument("--skip-import", action="store_true")
    parser.add_argument("--skip-synthesis", action="store_true")
    return parser.parse_args()


# ---------------------------------------------------------------- generated data


def glyph(rng):
    import numpy as np
    from PIL import Image

    cells = (rng.random((8, 8)) < 0.35) * rng.integers(150, 256, (8, 8))
    return Image.fromarray(cells.astype(np.uint8), "L").resize((32, 32), Image.NEAREST)


def photo(rng):
    import numpy as np
    from PIL import Image, ImageFilter

    base = rng.integers(0, 256, (60, 80, 3), dtype=np.uint8)
    return (
        Image.fromarray(base, "RGB")
        .resize((320, 240), Image.BILINEAR)
        .filter(ImageFilter.GaussianBlur(1))
    )


def png(image) -> bytes:
    out = io.BytesIO()
    image.save(out, "PNG")
    return out.getvalue()


def write_zip(path: Path, *, rows: int, make) -> Path:
    import numpy as np

    rng = np.random.default_rng(3)
    splits = ["train"] * 6 + ["train_dev", "dev", "dev", "test"]
    with zipfile.ZipFile(path, "w", zipfile.ZIP_STORED) as archive:
        lines = ["example_id,image,label,prediction,split,source"]
        for n in range(rows):
            lines.append(f"e{n},images/e{n}.png,{n % 10},{n % 10},{splits[n % 10]},bench")
            archive.writestr(f"images/e{n}.png", png(make(rng)))
        archive.writestr("predictions.csv", "\n".join(lines) + "\n")
    return path


# ---------------------------------------------------------------- 1. import overhead


class NoRecorder:
    def seen(self, pk):
        return None

    def save(self):
        return 0


def cpu() -> float:
    """CPU seconds of this process and of its finished children."""
    me = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return me.ru_utime + me.ru_stime + children.ru_utime + children.ru_stime


def import_seconds(*, project, user, dump: Path, run: str, measure: bool) -> tuple:
    from mlstrat.imports import services
    from mlstrat.imports.models import JobStatus

    original = services.CharacteristicsRecorder
    if not measure:
        services.CharacteristicsRecorder = NoRecorder
    try:
        job = services.import_job_create(
            project=project,
            user=user,
            dataset_name=run,
            run_name=run,
            server_path=str(dump),
            allow_any_path=True,
            enqueue=False,
        )
        started, cpu_started = time.perf_counter(), cpu()
        job = services.import_job_run(job_id=job.pk, inline_thumbnails=True)
        elapsed, cpu_used = time.perf_counter() - started, cpu() - cpu_started
    finally:
        services.CharacteristicsRecorder = original
    if job.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"import failed: {job.message}")
    return elapsed, cpu_used


def bench_import(args, project, user) -> None:
    from mlstrat.mismatch.models import ExampleCharacteristics

    for label, rows, make in (
        ("32 px grey glyphs", args.rows, glyph),
        ("320x240 RGB photos", args.photos, photo),
    ):
        dump = write_zip(OUT / f"dump-{rows}.zip", rows=rows, make=make)
        timings = {True: [], False: []}
        for attempt in range(args.repeat):
            for measure in (attempt % 2 == 0, attempt % 2 != 0):
                name = f"{'on' if measure else 'off'}-{rows}-{attempt}"
                timings[measure].append(
                    import_seconds(project=project, user=user, dump=dump, run=name, measure=measure)
                )
        wall = {k: statistics.median(t[0] for t in v) for k, v in timings.items()}
        used = {k: statistics.median(t[1] for t in v) for k, v in timings.items()}
        measured = ExampleCharacteristics.objects.filter(dataset__name__startswith="on-").count()
        print(
            f"import {rows} {label}: wall {wall[False]:.2f} s without characteristics, "
            f"{wall[True]:.2f} s with (+{(wall[True] - wall[False]) / wall[False]:.1%}); "
            f"CPU of the importing process {used[False]:.2f} s / {used[True]:.2f} s "
            f"(+{(used[True] - used[False]) / used[False]:.1%}); "
            f"{measured} rows measured so far"
        )


# ---------------------------------------------------------------- 2. synthesis


TRANSFORMS = [
    {"name": "GaussianBlur", "params": {"sigma": [0.5, 2.0]}},
    {"name": "GaussNoise", "params": {"std_range": [0.02, 0.08]}},
    {"name": "ImageCompression", "params": {"quality_range": [30, 70]}},
]


def bare_pillow(sources: list[str], outputs: int, folder: Path) -> float:
    """The floor: open, decode, blur, add noise, JPEG round trip, PNG encode, write."""
    import numpy as np
    from PIL import Image, ImageFilter

    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(1)
    draw = random.Random(1)
    started, cpu_started = time.perf_counter(), cpu()
    for i in range(outputs):
        with Image.open(sources[i % len(sources)]) as image:
            image = image.convert("L") if image.mode == "L" else image.convert("RGB")
        image = image.filter(ImageFilter.GaussianBlur(draw.uniform(0.5, 2.0)))
        pixels = np.asarray(image, dtype=np.float32)
        noise = rng.normal(0, draw.uniform(0.02, 0.08) * 255, pixels.shape[:2])
        if pixels.ndim == 3:
            noise = noise[..., None]
        image = Image.fromarray(np.clip(pixels + noise, 0, 255).astype(np.uint8), image.mode)
        buffer = io.BytesIO()
        image.save(buffer, "JPEG", quality=draw.randint(30, 70))
        buffer.seek(0)
        with Image.open(buffer) as decoded:
            image = decoded.convert(image.mode)
        out = io.BytesIO()
        image.save(out, "PNG", compress_level=1)
        (folder / f"{i:06d}.png").write_bytes(out.getvalue())
    return time.perf_counter() - started, cpu() - cpu_started


def _worker(job_id: int, chunks: list[int]) -> None:
    import django

    django.setup()
    from mlstrat.mismatch.services import synthesis_chunk_run

    for chunk in chunks:
        synthesis_chunk_run(job_id=job_id, chunk=chunk)


def synthesis_seconds(*, recipe, user, workers: int) -> tuple:
    from django.db import connections

    from mlstrat.mismatch.models import JobStatus, SynthesisJob
    from mlstrat.mismatch.services import synthesis_job_create

    started, cpu_started = time.perf_counter(), cpu()
    job = synthesis_job_create(recipe=recipe, created_by=user, enqueue=False)
    chunks = list(range((job.total + job.chunk_size - 1) // job.chunk_size))
    connections.close_all()
    context = get_context("fork")
    processes = [
        context.Process(target=_worker, args=(job.pk, chunks[w::workers])) for w in range(workers)
    ]
    for process in processes:
        process.start()
    for process in processes:
        process.join()
    elapsed, cpu_used = time.perf_counter() - started, cpu() - cpu_started
    job = SynthesisJob.objects.get(pk=job.pk)
    if job.status != JobStatus.SUCCEEDED:
        raise SystemExit(f"synthesis failed: {job.status} {job.message}")
    return elapsed, cpu_used


def bench_synthesis(args, project, user) -> None:
    import numpy as np
    from django.core.files.base import ContentFile
    from django.core.files.storage import default_storage

    from mlstrat.datasets.models import Example
    from mlstrat.datasets.services import dataset_create
    from mlstrat.mismatch.services import recipe_create

    for label, make, outputs in (
        ("32 px grey glyphs", glyph, args.outputs),
        ("256x192 RGB photos", lambda rng: photo(rng).resize((256, 192)), args.outputs // 4),
    ):
        dataset = dataset_create(project=project, name=f"synthesis {label}")
        rng = np.random.default_rng(5)
        paths = []
        for n in range(500):
            name = default_storage.save(
                f"datasets/{dataset.pk}/images/s{n}.png", ContentFile(png(make(rng)))
            )
            paths.append(default_storage.path(name))
            Example.objects.create(
                dataset=dataset,
                example_id=f"s{n}",
                label="0",
                original_label="0",
                split="train",
                image=name,
            )
        bare, bare_cpu = bare_pillow(paths, outputs, OUT / "bare")
        results = {}
        for workers in (1, 2):
            recipe = recipe_create(
                dataset=dataset,
                created_by=user,
                name=f"bench-{workers}",
                transforms=TRANSFORMS,
                count=outputs,
                seed=workers,
            )
            results[workers] = synthesis_seconds(recipe=recipe, user=user, workers=workers)
        (one, one_cpu), (two, two_cpu) = results[1], results[2]
        print(
            f"synthesis of {outputs} {label}: bare Pillow {outputs / bare:.0f}/s "
            f"({outputs / bare_cpu:.0f} per CPU-second); job, one worker {outputs / one:.0f}/s "
            f"({outputs / one_cpu:.0f} per CPU-second: {bare_cpu / one_cpu:.2f}x bare Pillow, "
            f"wall {bare / one:.2f}x); two workers {outputs / two:.0f}/s wall "
            f"({one / two:.2f}x one worker), {outputs / two_cpu:.0f} per CPU-second "
            f"({one_cpu / two_cpu:.2f}x one worker's efficiency)"
        )


def main():
    args = parse_args()
    shutil.rmtree(OUT, ignore_errors=True)
    OUT.mkdir(parents=True)
    import django

    django.setup()
    from copyload import scratch_database
    from django.contrib.auth import get_user_model

    from mlstrat.accounts.models import Project

    scratch_database(why="the import pipeline's COPY")
    Project.objects.all().delete()
    user, _ = get_user_model().objects.get_or_create(username="bench")
    project = Project.objects.create(name="Mismatch bench", slug="mismatch-bench")
    print(f"load average before: {os.getloadavg()}")
    if not args.skip_import:
        bench_import(args, project, user)
    if not args.skip_synthesis:
        bench_synthesis(args, project, user)
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT / "bench"))
    main()
