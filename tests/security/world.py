"""A complete object graph for one project: every model, so that every route has an id to try."""

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from mlstrat.accounts.models import Invitation, Project
from mlstrat.accounts.services import token_create
from mlstrat.analytics.models import AnalysisSettings, AnalysisSnapshot
from mlstrat.imports.models import ImportJob, ImportUpload
from mlstrat.labels.models import (
    CorrectSample,
    CorrectSampleItem,
    LabelChange,
    LabelCheck,
    LabelCorrection,
    LabelScore,
)
from mlstrat.mismatch.models import (
    CharacteristicReview,
    CharacteristicReviewItem,
    OverlaySet,
    SynthesisJob,
    SynthesisRecipe,
)
from mlstrat.review.models import (
    Comment,
    ErrorCategory,
    Review,
    ReviewItem,
    SavedView,
    Tag,
    TagEvent,
)
from tests.factories import DatasetFactory, ExampleFactory, PredictionFactory, RunFactory


@dataclass
class World:
    project: Project
    objects: dict  # model class -> instance

    def of(self, model):
        return self.objects[model]


def build_world(*, project, user, marker="WORLD") -> World:
    dataset = DatasetFactory(project=project, name=f"{marker}-dataset", class_names=["cat", "dog"])
    run = RunFactory(dataset=dataset, name=f"{marker}-run")
    example = ExampleFactory(dataset=dataset, example_id=f"{marker}-ex", label="cat")
    prediction = PredictionFactory(run=run, example=example, predicted_label="dog")
    category = ErrorCategory.objects.create(dataset=dataset, name=f"{marker}-blurry", key="b")
    review = Review.objects.create(run=run, name=f"{marker}-review", seed=1, created_by=user)
    item = ReviewItem.objects.create(
        review=review, prediction=prediction, example=example, position=0
    )
    tag = Tag.objects.create(run=run, example=example, category=category, user=user)
    event = TagEvent.objects.create(
        run=run, example=example, category=category, user=user, action="set", changed=True
    )
    comment = Comment.objects.create(run=run, example=example, user=user, text=f"{marker} note")
    correction = LabelCorrection.objects.create(
        example=example, run=run, from_label="cat", proposed_label="dog", proposed_by=user
    )
    change = LabelChange.objects.create(
        example=example, from_label="cat", to_label="cat", changed_by=user
    )
    snapshot = AnalysisSnapshot.objects.create(run=run, figures={})
    job = ImportJob.objects.create(
        project=project,
        dataset=dataset,
        dataset_name=dataset.name,
        run_name=run.name,
        created_by=user,
        status="failed",
    )
    upload = ImportUpload.objects.create(
        project=project, created_by=user, file_name="dump.zip", size=10
    )
    invitation = Invitation.objects.create(
        project=project, created_by=user, expires_at=timezone.now() + timedelta(days=1)
    )
    sample = CorrectSample.objects.create(
        run=run, split="dev", size=1, seed=1, population=1, created_by=user
    )
    sample_item = CorrectSampleItem.objects.create(sample=sample, example=example, position=0)
    check = LabelCheck.objects.create(
        example=example, run=run, outcome="confirmed", origin="correct_sample", checked_by=user
    )
    score = LabelScore.objects.create(
        run=run, example=example, split="dev", label="cat", self_confidence=0.1, margin=-0.5
    )
    analysis_settings = AnalysisSettings.objects.create(dataset=dataset)
    char_review = CharacteristicReview.objects.create(
        dataset=dataset, name=f"{marker}-train-vs-dev", size=1, seed=1, created_by=user
    )
    char_item = CharacteristicReviewItem.objects.create(
        review=char_review, example=example, position=1, split=example.split
    )
    overlay_set = OverlaySet.objects.create(dataset=dataset, name=f"{marker}-overlays")
    recipe = SynthesisRecipe.objects.create(
        dataset=dataset,
        name=f"{marker.lower()}-recipe",
        transforms=[{"name": "GaussianBlur", "params": {"sigma": [1.0, 2.0]}, "p": 1.0}],
        count=1,
    )
    synthesis_job = SynthesisJob.objects.create(recipe=recipe, total=1, status="failed")
    saved_view = SavedView.objects.create(run=run, name=f"{marker}-view", created_by=user)
    api_token, _ = token_create(user=user, name=f"{marker}-token")
    objects = {
        type(o): o
        for o in [
            sample,
            sample_item,
            check,
            score,
            analysis_settings,
            char_review,
            char_item,
            overlay_set,
            recipe,
            synthesis_job,
            saved_view,
            project,
            dataset,
            run,
            example,
            prediction,
            category,
            review,
            item,
            tag,
            event,
            comment,
            correction,
            change,
            snapshot,
            job,
            upload,
            invitation,
            api_token,
        ]
    }
    return World(project=project, objects=objects)


def fingerprint(world: World) -> dict:
    """Every field of every object of the world, to prove nothing changed."""
    state = {}
    for model, obj in world.objects.items():
        row = model.objects.filter(pk=obj.pk).values().first()
        state[model.__name__] = row
    state["tag_count"] = Tag.objects.filter(run__dataset__project=world.project).count()
    state["comment_count"] = Comment.objects.filter(run__dataset__project=world.project).count()
    state["category_count"] = ErrorCategory.objects.filter(dataset__project=world.project).count()
    state["correction_count"] = LabelCorrection.objects.filter(
        example__dataset__project=world.project
    ).count()
    return state
