"""Writes of the data-mismatch concern: measured characteristics, train-vs-dev reviews and
their ticks, overlay sets, synthesis recipes and the jobs that write their dumps."""

from __future__ import annotations

import csv
import io
import json
import logging
import random
import time
import warnings
import zipfile
from datetime import timedelta

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import connection, transaction
from django.utils import timezone
from PIL import Image

from mlstrat.datasets.images import open_image, read_stored
from mlstrat.datasets.models import Dataset, Example, Split
from mlstrat.datasets.sampling import SeedOutOfRange, sample_key, seed_or_new
from mlstrat.names import normalise_name, refuse_look_alike
from mlstrat.review.models import ErrorCategory
from mlstrat.sqltext import array_literal

from . import matching
from .characteristics import NAMES, Batch
from .models import (
    CharacteristicNothing,
    CharacteristicReview,
    CharacteristicReviewItem,
    CharacteristicTick,
    ExampleCharacteristics,
    JobStatus,
    OverlayImage,
    OverlaySet,
    SynthesisJob,
    SynthesisRecipe,
)
from .synthesis import (
    CALIBRATION_IMAGES,
    calibrate,
    encode_png,
    source_positions,
    synthesize,
    variety_report,
)
from .transforms import RecipeError, clean_transforms, matched_params, needs_overlays

logger = logging.getLogger(__name__)

MEASURE_SIDE = 256  # the thumbnail's side: images are measured at that scale
MEASURE_CHUNK = 500
MAX_OUTPUTS = 200_000
MAX_OVERLAYS = 2000
CHUNK_SIZE = 200
MAX_POOL = 100_000  # source examples a job draws from at most (a seeded sample beyond)
FIXED_DATE = (2026, 1, 1, 0, 0, 0)  # zip members carry a fixed date: same bytes every run

# ---------------------------------------------------------------- characteristics


class CharacteristicsRecorder:
    """The thumbnail pass's hook: `seen(pk)` is handed each decoded image, `save()` writes
    the chunk's rows in bulk (inside the pass's transaction; a chunk run twice writes
    nothing twice)."""

    def __init__(self):
        self.batch = Batch()
        # Examples of an image measured once (a multi-task dump's tasks): pk -> first pk.
        self.aliases: dict[int, int] = {}

    def same_as(self, example_pk: int, first_pk: int) -> None:
        """This example shows the same image as `first_pk`: it gets its measurements."""
        self.aliases[example_pk] = first_pk

    def seen(self, example_pk: int):
        def record(image, original_size):
            try:
                self.batch.add(example_pk, image, original_size)
            except Exception:  # a measurement never costs an example its thumbnail
                logger.warning("Could not measure example %s", example_pk, exc_info=True)

        return record

    def save(self) -> int:
        values = self.batch.results()
        for pk, first in self.aliases.items():
            if first in values:
                values[pk] = values[first]
        return characteristics_save(values=values)


def characteristics_save(*, values: dict[int, dict]) -> int:
    """Write measured rows (split and source copied from the example); rows that exist
    already are left as they are."""
    if not values:
        return 0
    if connection.vendor == "postgresql":
        return _save_unnest(values)
    examples = Example.objects.filter(pk__in=list(values)).values_list(
        "pk", "dataset_id", "split", "source"
    )
    rows = [
        ExampleCharacteristics(
            example_id=pk,
            dataset_id=dataset_id,
            split=split,
            source=source,
            **{name: values[pk][name] for name in NAMES},
        )
        for pk, dataset_id, split, source in examples
    ]
    ExampleCharacteristics.objects.bulk_create(rows, ignore_conflicts=True, batch_size=1000)
    return len(rows)


def _save_unnest(values: dict[int, dict]) -> int:
    # One statement for the whole chunk: the values travel as arrays, the example's
    # dataset, split and source are joined in SQL, and a row written meanwhile (a backfill
    # racing the thumbnail pass) is skipped rather than failing the pass. Each array goes
    # as one array literal: psycopg2 adapting 4,500 floats one by one cost more than the
    # insert itself.
    table = ExampleCharacteristics._meta.db_table
    pks = list(values)
    columns = ", ".join(f'"{name}"' for name in NAMES)
    arrays = ", ".join(
        f"%s::{'integer' if name in ('width', 'height') else 'double precision'}[]"
        for name in NAMES
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f'INSERT INTO "{table}" ("example_id", "dataset_id", "split", "source", {columns}) '
            f'SELECT e."id", e."dataset_id", e."split", e."source", {columns} '
            f'FROM unnest(%s::bigint[], {arrays}) AS v("pk", {columns}) '
            f'JOIN "{Example._meta.db_table}" e ON e."id" = v."pk" '
            'ON CONFLICT ("example_id") DO NOTHING',
            [
                array_literal(pks),
                *(array_literal([values[pk][name] for pk in pks]) for name in NAMES),
            ],
        )
        return cursor.rowcount


def decoded_for_measure(handle):
    """Decode an image as the thumbnail pass does (at most MEASURE_SIDE on its longer
    side): returns (image, original size). The caller closes the image."""
    image = open_image(handle)
    original = image.size
    if max(original) > MEASURE_SIDE:
        image.draft("RGB", (MEASURE_SIDE, MEASURE_SIDE))
        image.thumbnail((MEASURE_SIDE, MEASURE_SIDE))
    else:
        image.load()
    return image, original


def characteristics_measure(*, example_ids: list[int]) -> int:
    """Measure these examples' images (those not measured yet); idempotent."""
    batch = Batch()
    done = set(
        ExampleCharacteristics.objects.filter(example_id__in=example_ids).values_list(
            "example_id", flat=True
        )
    )
    stored = Example.objects.filter(pk__in=example_ids).values_list(
        "pk", "image", "image_offset", "image_size"
    )
    for pk, *ref in stored:
        if pk in done:
            continue
        try:
            image, original = example_image(tuple(ref))
            with image:
                batch.add(pk, image, original)
        except Exception:
            logger.warning("Could not measure example %s", pk, exc_info=True)
    return characteristics_save(values=batch.results())


def characteristics_missing(*, dataset: Dataset):
    return Example.objects.filter(dataset=dataset, characteristics__isnull=True)


def characteristics_backfill(*, dataset: Dataset, inline: bool = False) -> int:
    """Measure every example of the dataset that has no characteristics yet, in chunks
    handed to workers (or run here when inline). Returns how many examples were missing."""
    from .tasks import characteristics_measure_task

    ids = list(characteristics_missing(dataset=dataset).order_by("pk").values_list("pk", flat=True))
    for start in range(0, len(ids), MEASURE_CHUNK):
        chunk = ids[start : start + MEASURE_CHUNK]
        if inline:
            characteristics_measure(example_ids=chunk)
        else:
            characteristics_measure_task.delay(chunk)
    return len(ids)


# ---------------------------------------------------------------- train-vs-dev reviews


def _draw(*, dataset: Dataset, split: str, source: str | None, size: int, seed: int) -> list:
    examples = Example.objects.filter(dataset=dataset, split=split)
    if source is not None:
        examples = examples.filter(source=source)
    rows = list(examples.values_list("pk", "source", "example_id", "task"))
    # Keyed by the dump's ids, not database keys: the same seed draws the same examples
    # from the same data in any database (a re-import, the demo, a test).
    keyed = [(sample_key(seed, f"{eid}\x1f{task}"), pk, source_) for pk, source_, eid, task in rows]
    keyed.sort()
    return [(pk, source_, split, key) for key, pk, source_ in keyed[:size]]


@transaction.atomic
def characteristic_review_create(
    *,
    dataset: Dataset,
    created_by,
    name: str,
    size: int = 50,
    seed: int | None = None,
    per_source: bool = False,
    blind: bool = True,
) -> CharacteristicReview:
    """A seeded sample of `size` training and `size` dev examples (per source present in
    both when per_source), interleaved in one seeded order."""
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "A review needs a name."})
    name = normalise_name(name, max_length=200)
    if not isinstance(size, int) or not 1 <= size <= 5000:
        raise ValidationError({"size": "Between 1 and 5000 examples from each split."})
    try:
        seed = seed_or_new(seed)
    except SeedOutOfRange as exc:
        raise ValidationError({"seed": str(exc)}) from exc
    if per_source:
        both = set(
            Example.objects.filter(dataset=dataset, split=Split.TRAIN).values_list(
                "source", flat=True
            )
        ) & set(
            Example.objects.filter(dataset=dataset, split=Split.DEV).values_list(
                "source", flat=True
            )
        )
        sources = sorted(both)
        if not sources:
            raise ValidationError({"per_source": "No source has both train and dev examples."})
    else:
        sources = [None]
    drawn = []
    for source in sources:
        train = _draw(dataset=dataset, split=Split.TRAIN, source=source, size=size, seed=seed)
        dev = _draw(dataset=dataset, split=Split.DEV, source=source, size=size, seed=seed)
        if not train or not dev:
            raise ValidationError(
                {"size": "The dataset needs both train and dev examples for this review."}
            )
        # The same number from each side: the smaller side sets it.
        count = min(len(train), len(dev))
        drawn += train[:count] + dev[:count]
    drawn.sort(key=lambda row: sample_key(seed + 1, row[3].hex()))
    review = CharacteristicReview.objects.create(
        dataset=dataset,
        name=name[:200],
        size=size,
        seed=seed,
        per_source=per_source,
        blind=blind,
        created_by=created_by,
    )
    CharacteristicReviewItem.objects.bulk_create(
        [
            CharacteristicReviewItem(
                review=review, example_id=pk, position=position, split=split, source=source
            )
            for position, (pk, source, split, _) in enumerate(drawn, 1)
        ]
    )
    return review


class TickError(ValueError):
    """A tick that cannot be applied; the message says why."""


def _check_category(*, review: CharacteristicReview, category: ErrorCategory) -> None:
    if category.dataset_id != review.dataset_id:
        raise TickError("This category belongs to another dataset.")
    if category.builtin:
        raise TickError(f"“{category.name}” is about labels, not what an image looks like.")
    if category.archived:
        raise TickError(f"“{category.name}” is archived; restore it to tick it.")


@transaction.atomic
def characteristic_tick(
    *, item: CharacteristicReviewItem, category: ErrorCategory, user, on: bool
) -> bool:
    """Set (on) or clear one person's tick; returns whether anything changed. A tick
    replaces that person's "nothing applies" on the item."""
    _check_category(review=item.review, category=category)
    ticks = CharacteristicTick.objects.filter(item=item, category=category, user=user)
    if on:
        CharacteristicNothing.objects.filter(item=item, user=user).delete()
        existed = ticks.exists()
        CharacteristicTick.objects.bulk_create(
            [CharacteristicTick(item=item, category=category, user=user)], ignore_conflicts=True
        )
        return not existed
    deleted, _ = ticks.delete()
    return deleted > 0


@transaction.atomic
def characteristic_nothing(*, item: CharacteristicReviewItem, user, on: bool) -> bool:
    """Mark (on) that no category applies to the item for this person, clearing their
    ticks; or take the mark back."""
    if on:
        CharacteristicTick.objects.filter(item=item, user=user).delete()
        _, created = CharacteristicNothing.objects.get_or_create(item=item, user=user)
        return created
    deleted, _ = CharacteristicNothing.objects.filter(item=item, user=user).delete()
    return deleted > 0


def characteristic_review_delete(*, review: CharacteristicReview) -> None:
    review.delete()


# ---------------------------------------------------------------- overlays


def _image_problem(data: bytes) -> str | None:
    """Why these bytes are not an acceptable overlay image (decoded in full, bounded)."""
    Image.MAX_IMAGE_PIXELS = settings.MLSTRAT_IMAGE_MAX_PIXELS
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with open_image(io.BytesIO(data)) as image:
                image.load()
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        return f"more than {settings.MLSTRAT_IMAGE_MAX_PIXELS} pixels"
    except Exception:
        return "not a readable image (PNG, JPEG, GIF, WEBP or BMP)"
    return None


def _overlay_files(files) -> list[tuple[str, bytes]]:
    """(name, bytes) of uploaded images, a zip of images expanded (bounded)."""
    found = []
    for upload in files:
        data = upload.read()
        if data[:4] == b"PK\x03\x04":
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                members = [m for m in archive.infolist() if not m.is_dir()]
                if len(members) > MAX_OVERLAYS:
                    raise ValidationError({"files": f"At most {MAX_OVERLAYS} overlay images."})
                for member in members:
                    if member.file_size > 20 * 1024 * 1024:
                        raise ValidationError({"files": f"{member.filename}: over 20 MB."})
                    found.append((member.filename.rsplit("/", 1)[-1], archive.read(member)))
        else:
            found.append((upload.name, data))
    if not found:
        raise ValidationError({"files": "Upload images (PNG, JPEG, GIF, WEBP, BMP) or a zip."})
    if len(found) > MAX_OVERLAYS:
        raise ValidationError({"files": f"At most {MAX_OVERLAYS} overlay images."})
    for name, data in found:
        problem = _image_problem(data)
        if problem:
            raise ValidationError({"files": f"{name}: {problem}"})
    return found


@transaction.atomic
def overlay_set_create(*, dataset: Dataset, name: str, files, created_by) -> OverlaySet:
    if not isinstance(name, str) or not name.strip():
        raise ValidationError({"name": "Name the overlay set."})
    name = normalise_name(name, max_length=200)
    if OverlaySet.objects.filter(dataset=dataset, name=name).exists():
        raise ValidationError({"name": f"An overlay set named “{name}” exists already."})
    existing = OverlaySet.objects.filter(dataset=dataset).values_list("name", flat=True)
    refuse_look_alike(name, existing=existing, what="overlay set")
    images = _overlay_files(files)
    overlay_set = OverlaySet.objects.create(dataset=dataset, name=name[:200], created_by=created_by)
    for position, (file_name, data) in enumerate(images):
        stored = OverlayImage(overlay_set=overlay_set, name=file_name[:200])
        stored.image.save(f"{position:05d}.img", ContentFile(data), save=False)
        stored.save()
    return overlay_set


# ---------------------------------------------------------------- recipes

RECIPE_FILTERS = {"label", "source"} | {
    f"char_{name}_{end}" for name in NAMES for end in ("min", "max")
}


def clean_recipe_filters(filters) -> dict:
    if filters is not None and not isinstance(filters, dict):
        raise ValidationError({"filters": "Filters are an object of label, source or char_*."})
    filters = dict(filters or {})
    unknown = set(filters) - RECIPE_FILTERS
    if unknown:
        raise ValidationError(
            {
                "filters": f"Unknown filter {', '.join(sorted(unknown))}; use label, source or "
                "char_<characteristic>_min / _max."
            }
        )
    clean = {}
    for key in ("label", "source"):
        value = filters.get(key)
        if value not in (None, ""):
            if not isinstance(value, str | int):
                raise ValidationError({"filters": f"{key}: one value."})
            clean[key] = str(value)
    for key in sorted(RECIPE_FILTERS - {"label", "source"}):
        value = filters.get(key)
        if value in (None, ""):
            continue
        try:
            number = float(value)
        except (TypeError, ValueError) as exc:
            raise ValidationError({"filters": f"{key}: a number."}) from exc
        if number != number or number in (float("inf"), float("-inf")):
            raise ValidationError({"filters": f"{key}: a finite number."})
        clean[key] = number
    return clean


def recipe_pool(*, dataset: Dataset, filters: dict):
    """The training examples a recipe draws from, in pk order."""
    examples = Example.objects.filter(dataset=dataset, split=Split.TRAIN).exclude(
        source__startswith="synthetic:"
    )
    if "label" in filters:
        examples = examples.filter(label=filters["label"])
    if "source" in filters:
        examples = examples.filter(source=filters["source"])
    for key, value in filters.items():
        if key.startswith("char_"):
            name, end = key[5:].rsplit("_", 1)
            lookup = "gte" if end == "min" else "lte"
            examples = examples.filter(**{f"characteristics__{name}__{lookup}": value})
    return examples.order_by("pk")


def _clean_recipe(
    *, dataset, name, filters, transforms, count, seed, overlay_set, exclude_pk=None
) -> dict:
    errors = {}
    name = (name if isinstance(name, str) else "").strip().lower()
    if not name or len(name) > 80 or not all(c.isalnum() or c in "-_" for c in name):
        errors["name"] = "A short name of letters, digits, - and _ (it becomes the source tag)."
    elif SynthesisRecipe.objects.filter(dataset=dataset, name=name).exclude(pk=exclude_pk).exists():
        errors["name"] = f"A recipe named “{name}” exists already."
    try:
        transforms = clean_transforms(transforms)
    except RecipeError as exc:
        errors["transforms"] = str(exc)
        transforms = []
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= MAX_OUTPUTS:
        errors["count"] = f"Between 1 and {MAX_OUTPUTS} outputs."
    if isinstance(seed, bool) or not isinstance(seed, int) or not 0 <= seed < 2**62:
        errors["seed"] = "A whole number from 0."
    if overlay_set is not None and overlay_set.dataset_id != dataset.pk:
        errors["overlay_set"] = "That overlay set belongs to another dataset."
    if transforms and needs_overlays(transforms) and overlay_set is None:
        errors["overlay_set"] = "TemplateTransform blends overlays: choose an overlay set."
    try:
        filters = clean_recipe_filters(filters)
    except ValidationError as exc:
        errors.update(exc.message_dict)
    if errors:
        raise ValidationError(errors)
    return {
        "name": name,
        "filters": filters,
        "transforms": transforms,
        "count": count,
        "seed": seed,
        "overlay_set": overlay_set,
    }


def recipe_create(
    *,
    dataset: Dataset,
    created_by,
    name: str,
    transforms,
    filters=None,
    count: int = 1000,
    seed: int | None = None,
    overlay_set: OverlaySet | None = None,
) -> SynthesisRecipe:
    seed = seed if seed is not None else random.SystemRandom().randrange(0, 2**31)
    fields = _clean_recipe(
        dataset=dataset,
        name=name,
        filters=filters,
        transforms=transforms,
        count=count,
        seed=seed,
        overlay_set=overlay_set,
    )
    return SynthesisRecipe.objects.create(dataset=dataset, created_by=created_by, **fields)


def recipe_update(*, recipe: SynthesisRecipe, **changes) -> SynthesisRecipe:
    current = {
        "name": recipe.name,
        "filters": recipe.filters,
        "transforms": recipe.transforms,
        "count": recipe.count,
        "seed": recipe.seed,
        "overlay_set": recipe.overlay_set,
    }
    current.update(changes)
    fields = _clean_recipe(dataset=recipe.dataset, exclude_pk=recipe.pk, **current)
    for key, value in fields.items():
        setattr(recipe, key, value)
    recipe.save()
    return recipe


def recipe_delete(*, recipe: SynthesisRecipe) -> None:
    for job in recipe.jobs.all():
        _delete_job_files(job)
    recipe.delete()


# ---------------------------------------------------------------- plans and previews


def example_image(ref):
    """An example's stored image decoded as the thumbnail pass decodes it, and its original
    size. The one place this app reads an example's image: `ref` is a stored name, or
    (name, offset, size) for an image in an import's pack (mlstrat/datasets/images.py)."""
    name, offset, size = ref if isinstance(ref, tuple) else (ref, None, None)
    return decoded_for_measure(io.BytesIO(read_stored(name, offset, size)))


def _open_example_image(name: str):
    return example_image(name)[0]


def _dev_targets(*, dataset: Dataset, characteristics: set[str]) -> dict[str, list[float]]:
    targets = {}
    for name in characteristics:
        values = list(
            ExampleCharacteristics.objects.filter(dataset=dataset, split=Split.DEV).values_list(
                name, flat=True
            )
        )
        if not values:
            raise ValidationError(
                {"transforms": f"Dev has no measured {name} to match (measure the dataset first)."}
            )
        targets[name] = matching.target_quantiles(values)
    return targets


def recipe_plan(*, recipe: SynthesisRecipe) -> dict:
    """Everything the outputs depend on, fixed at the start: the pool of source examples,
    the overlays, and the fitted matching curves with dev's quantiles."""
    pool = list(
        recipe_pool(dataset=recipe.dataset, filters=recipe.filters).values_list("pk", flat=True)
    )
    if not pool:
        raise ValidationError({"filters": "No training example matches the recipe's filter."})
    matching_total = len(pool)
    if len(pool) > MAX_POOL:
        # Every chunk reads the plan: a seeded sample keeps it small (and says so).
        pool = sorted(random.Random(recipe.seed).sample(pool, MAX_POOL))
    overlays = (
        list(recipe.overlay_set.images.order_by("pk").values_list("pk", flat=True))
        if recipe.overlay_set
        else []
    )
    if needs_overlays(recipe.transforms) and not overlays:
        raise ValidationError({"overlay_set": "The overlay set has no images."})
    plan = {
        "recipe": recipe.name,
        "seed": recipe.seed,
        "count": recipe.count,
        "transforms": recipe.transforms,
        "pool": pool,
        "pool_matching": matching_total,
        "overlays": overlays,
        "matching": {},
    }
    wanted = {param.matches for _, param in matched_params(recipe.transforms)}
    if wanted:
        targets = _dev_targets(dataset=recipe.dataset, characteristics=wanted)
        positions = source_positions(
            seed=recipe.seed,
            pool_size=len(pool),
            indices=range(min(CALIBRATION_IMAGES, len(pool))),
        )
        names = {
            pk: tuple(ref)
            for pk, *ref in Example.objects.filter(pk__in=[pool[p] for p in positions]).values_list(
                "pk", "image", "image_offset", "image_size"
            )
        }
        images = [_open_example_image(names[pool[p]]) for p in positions]
        plan["matching"] = calibrate(
            transforms=recipe.transforms, images=images, targets=targets, seed=recipe.seed
        )
    return plan


class _Overlays:
    """Overlay images by their position in the plan, opened once per chunk."""

    def __init__(self, plan: dict):
        self.ids = plan.get("overlays") or []
        self.names = (
            dict(OverlayImage.objects.filter(pk__in=self.ids).values_list("pk", "image"))
            if self.ids
            else {}
        )
        self.opened = {}

    def __call__(self, position: int):
        if position not in self.opened:
            self.opened[position] = _open_example_image(self.names[self.ids[position]])
        return self.opened[position]


def synthesize_range(*, plan: dict, indices) -> list[dict]:
    """Outputs for these indices: [{"index", "source", "source_example_id", "label",
    "transforms", "png"}], each source image decoded once."""
    indices = list(indices)
    positions = source_positions(seed=plan["seed"], pool_size=len(plan["pool"]), indices=indices)
    pks = {plan["pool"][p] for p in positions}
    sources = {
        pk: (example_id, label, (image, offset, size))
        for pk, example_id, label, image, offset, size in Example.objects.filter(
            pk__in=pks
        ).values_list("pk", "example_id", "label", "image", "image_offset", "image_size")
    }
    overlays = _Overlays(plan)
    decoded = {}
    out = []
    for index, position in zip(indices, positions, strict=True):
        pk = plan["pool"][position]
        if pk not in sources:
            raise ValidationError({"pool": "A source example was deleted; start a new job."})
        example_id, label, name = sources[pk]
        if pk not in decoded:
            decoded[pk] = _open_example_image(name)
        image, record = synthesize(plan=plan, index=index, source=decoded[pk], overlay=overlays)
        out.append(
            {
                "index": index,
                "source": pk,
                "source_example_id": example_id,
                "label": label,
                "transforms": record,
                "png": encode_png(image),
            }
        )
    return out


# ---------------------------------------------------------------- jobs


def output_example_id(*, recipe_name: str, job_pk: int, index: int) -> str:
    return f"syn-{recipe_name}-{job_pk}-{index:06d}"


def synthesis_job_create(*, recipe: SynthesisRecipe, created_by, enqueue: bool = True):
    """Fix the plan now (pool, overlays, fitted curves) and hand the chunks to workers."""
    plan = recipe_plan(recipe=recipe)
    job = SynthesisJob.objects.create(
        recipe=recipe,
        total=recipe.count,
        chunk_size=CHUNK_SIZE,
        plan=plan,
        pool_size=len(plan["pool"]),
        created_by=created_by,
    )
    if enqueue:
        transaction.on_commit(lambda: synthesis_job_enqueue(job=job))
    return job


def _chunks(job: SynthesisJob) -> list[int]:
    return list(range((job.total + job.chunk_size - 1) // job.chunk_size))


def synthesis_job_enqueue(*, job: SynthesisJob, inline: bool = False) -> None:
    """Send every chunk not done yet (a resumed job sends only what is missing)."""
    from .tasks import synthesis_chunk_task

    job.refresh_from_db()
    if job.is_finished:
        return
    SynthesisJob.objects.filter(pk=job.pk).update(
        attempts=job.attempts + 1, progress_at=timezone.now()
    )
    missing = [chunk for chunk in _chunks(job) if chunk not in set(job.chunks_done)]
    if not missing:
        _finish(job_id=job.pk)
        return
    for chunk in missing:
        if inline:
            synthesis_chunk_run(job_id=job.pk, chunk=chunk)
        else:
            synthesis_chunk_task.delay(job.pk, chunk)


def _rows_name(job: SynthesisJob, chunk: int) -> str:
    return f"{job.folder}/rows/{chunk:05d}.json"


def images_name(job: SynthesisJob, chunk: int) -> str:
    """A chunk's images: one stored (uncompressed) zip per chunk, one object to write and
    to serve instead of a file per image."""
    return f"{job.folder}/images/{chunk:05d}.zip"


def _save(name: str, data: bytes) -> None:
    # Same name every time: a chunk run again replaces its own files.
    default_storage.delete(name)
    default_storage.save(name, ContentFile(data))


def synthesis_chunk_run(*, job_id: int, chunk: int) -> int:
    """Write one chunk's images and rows; idempotent, and a cancelled job stops."""
    job = SynthesisJob.objects.select_related("recipe").get(pk=job_id)
    if job.is_finished or chunk in job.chunks_done:
        return 0
    started = time.perf_counter()
    if job.status == JobStatus.QUEUED:
        SynthesisJob.objects.filter(pk=job.pk, status=JobStatus.QUEUED).update(
            status=JobStatus.RUNNING, started_at=timezone.now()
        )
    first = chunk * job.chunk_size
    indices = range(first, min(job.total, first + job.chunk_size))
    rows = []
    step = 100  # outputs between two looks at a cancellation
    images = io.BytesIO()
    try:
        with zipfile.ZipFile(images, "w", zipfile.ZIP_STORED) as archive:
            for start in range(indices.start, indices.stop, step):
                if SynthesisJob.objects.filter(pk=job.pk, status=JobStatus.CANCELLED).exists():
                    return 0
                outputs = synthesize_range(
                    plan=job.plan, indices=range(start, min(indices.stop, start + step))
                )
                for output in outputs:
                    example_id = output_example_id(
                        recipe_name=job.recipe.name, job_pk=job.pk, index=output["index"]
                    )
                    archive.writestr(
                        zipfile.ZipInfo(f"{example_id}.png", date_time=FIXED_DATE),
                        output.pop("png"),
                    )
                    rows.append({"example_id": example_id, **output})
    except ValidationError as exc:
        _fail(job, " ".join(exc.messages))
        return 0
    _save(images_name(job, chunk), images.getvalue())
    _save(_rows_name(job, chunk), json.dumps(rows).encode())
    _count_chunk(job_id=job.pk, chunk=chunk, done=len(rows), seconds=time.perf_counter() - started)
    return len(rows)


def _fail(job: SynthesisJob, message: str) -> None:
    SynthesisJob.objects.filter(pk=job.pk).exclude(status__in=[JobStatus.CANCELLED]).update(
        status=JobStatus.FAILED, message=message, finished_at=timezone.now()
    )


def _count_chunk(*, job_id: int, chunk: int, done: int, seconds: float) -> None:
    with transaction.atomic():
        job = SynthesisJob.objects.select_for_update().get(pk=job_id)
        if job.is_finished or chunk in job.chunks_done:
            return
        job.chunks_done.append(chunk)
        job.done = min(job.total, job.done + done)
        job.timings["chunks_s"] = round(job.timings.get("chunks_s", 0) + seconds, 3)
        job.progress_at = timezone.now()
        job.save(update_fields=["chunks_done", "done", "timings", "progress_at"])
        complete = len(job.chunks_done) >= len(_chunks(job))
    if complete:
        _finish(job_id=job_id)


COLUMNS = [
    "example_id",
    "image",
    "label",
    "prediction",
    "split",
    "source",
    "synth_recipe",
    "synth_job",
    "synth_source_example",
    "synth_transforms",
]


def _finish(*, job_id: int) -> None:
    """Write the table (rows of every chunk, in index order) and the variety report."""
    job = SynthesisJob.objects.select_related("recipe").get(pk=job_id)
    if job.is_finished:
        return
    started = time.perf_counter()
    records = []
    table = io.StringIO()
    writer = csv.DictWriter(table, fieldnames=COLUMNS, lineterminator="\n")
    writer.writeheader()
    for chunk in _chunks(job):
        with default_storage.open(_rows_name(job, chunk), "rb") as handle:
            rows = json.load(handle)
        for row in rows:
            records.append({"source": row["source"], "transforms": row["transforms"]})
            writer.writerow(
                {
                    "example_id": row["example_id"],
                    "image": f"images/{row['example_id']}.png",
                    "label": row["label"],
                    # The format asks for a prediction; no model has seen these yet.
                    "prediction": row["label"],
                    "split": Split.TRAIN,
                    "source": job.recipe.source_tag,
                    "synth_recipe": job.recipe.name,
                    "synth_job": job.pk,
                    "synth_source_example": row["source_example_id"],
                    "synth_transforms": json.dumps(row["transforms"], separators=(",", ":")),
                }
            )
    _save(job.table_name, table.getvalue().encode())
    variety = variety_report(
        records=records,
        pool_size=len(job.plan["pool"]),
        overlay_count=len(job.plan.get("overlays") or []),
    )
    with transaction.atomic():
        locked = SynthesisJob.objects.select_for_update().get(pk=job.pk)
        if locked.is_finished:
            return
        locked.variety = variety
        locked.status = JobStatus.SUCCEEDED
        locked.finished_at = timezone.now()
        locked.timings["finish_s"] = round(time.perf_counter() - started, 3)
        locked.message = (
            f"Synthesized {locked.total} images from {variety['distinct_sources']} "
            "training examples."
        )
        locked.save(update_fields=["variety", "status", "finished_at", "timings", "message"])


def synthesis_job_cancel(*, job: SynthesisJob) -> SynthesisJob:
    updated = SynthesisJob.objects.filter(
        pk=job.pk, status__in=[JobStatus.QUEUED, JobStatus.RUNNING]
    ).update(status=JobStatus.CANCELLED, finished_at=timezone.now(), message="Cancelled.")
    if not updated:
        raise ValidationError({"status": f"The job is {job.status}: nothing to cancel."})
    job.refresh_from_db()
    return job


def synthesis_job_resume(*, job: SynthesisJob, inline: bool = False) -> SynthesisJob:
    """Send again the chunks a dead worker left undone (safe to call any time)."""
    if job.is_finished:
        raise ValidationError({"status": f"The job is {job.status}: nothing to resume."})
    synthesis_job_enqueue(job=job, inline=inline)
    job.refresh_from_db()
    return job


def synthesis_jobs_check_stalled() -> int:
    """Notice jobs whose worker died (run by beat every minute): a job with no chunk done
    for MLSTRAT_SYNTHESIS_STALL_SECONDS has its missing chunks sent again (chunks are
    idempotent, so one that was only slow costs a duplicate, never a wrong dump); after
    MLSTRAT_SYNTHESIS_MAX_ATTEMPTS sends it fails with the reason. Returns jobs touched."""
    now = timezone.now()
    if _tasks_waiting():
        return 0  # the workers are busy with other work: a job waiting its turn is not stalled
    stalled = SynthesisJob.objects.filter(
        status__in=[JobStatus.QUEUED, JobStatus.RUNNING],
        progress_at__lt=now - timedelta(seconds=settings.MLSTRAT_SYNTHESIS_STALL_SECONDS),
    )
    touched = 0
    for job in stalled:
        quiet = round((now - job.progress_at).total_seconds() / 60)
        if job.attempts >= settings.MLSTRAT_SYNTHESIS_MAX_ATTEMPTS:
            _fail(
                job,
                f"No progress for {quiet} min after {job.attempts} attempts while no other "
                "work was waiting: are the workers running? Start the recipe again.",
            )
        else:
            SynthesisJob.objects.filter(pk=job.pk).update(
                message=f"Resumed after {quiet} min without progress (a worker stopped)."
            )
            synthesis_job_enqueue(job=job)
        touched += 1
    return touched


def _tasks_waiting(*, broker_url: str | None = None) -> int:
    """Messages waiting in the default queue (0 when the broker cannot tell)."""
    from mlstrat.celery import app

    try:
        with app.connection_for_read(broker_url) as conn:
            # Declaring a queue that exists changes nothing; it answers with its length.
            declared = conn.default_channel.queue_declare(queue=settings.CELERY_TASK_DEFAULT_QUEUE)
            return declared.message_count
    except Exception:  # a broker down or without counts: judge by progress alone
        logger.warning("Could not count the tasks waiting in the queue", exc_info=True)
        return 0


def _delete_job_files(job: SynthesisJob) -> None:
    for chunk in _chunks(job):
        default_storage.delete(_rows_name(job, chunk))
        default_storage.delete(images_name(job, chunk))
    default_storage.delete(job.table_name)
