"""factory_boy factories for the domain model."""

import factory
from django.utils import timezone

from mlstrat.accounts.models import Membership, Project, Role, User
from mlstrat.datasets.models import Dataset, Example, ModelRun, Prediction, RunStatus, Split
from mlstrat.review.services import category_ensure_builtins


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User
        django_get_or_create = ["username"]

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda u: f"{u.username}@example.com")
    password = factory.django.Password("password")


class ProjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Project

    name = factory.Sequence(lambda n: f"Project {n}")
    slug = factory.Sequence(lambda n: f"project-{n}")


class MembershipFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Membership

    project = factory.SubFactory(ProjectFactory)
    user = factory.SubFactory(UserFactory)
    role = Role.ANNOTATOR


class DatasetFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Dataset
        skip_postgeneration_save = True

    project = factory.SubFactory(ProjectFactory)
    name = factory.Sequence(lambda n: f"dataset-{n}")
    class_names = ["cat", "dog", "bird"]

    @factory.post_generation
    def builtins(obj, create, extracted, **kwargs):
        if create:
            category_ensure_builtins(dataset=obj)


class ExampleFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Example

    dataset = factory.SubFactory(DatasetFactory)
    example_id = factory.Sequence(lambda n: f"ex{n:05d}")
    label = "cat"
    original_label = factory.LazyAttribute(lambda e: e.label)
    split = Split.DEV
    source = "web"
    image = factory.LazyAttribute(lambda e: f"datasets/test/{e.example_id}.png")


class RunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ModelRun

    dataset = factory.SubFactory(DatasetFactory)
    name = factory.Sequence(lambda n: f"run-{n}")
    status = RunStatus.READY
    imported_at = factory.LazyFunction(timezone.now)


class PredictionFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Prediction

    run = factory.SubFactory(RunFactory)
    example = factory.SubFactory(ExampleFactory, dataset=factory.SelfAttribute("..run.dataset"))
    split = factory.LazyAttribute(lambda p: p.example.split)
    predicted_label = "dog"
    confidence = 0.8
    is_error = factory.LazyAttribute(lambda p: p.predicted_label != p.example.label)


def api_token(user, **kwargs) -> str:
    """The secret of a new API token of `user` (`Authorization: Token <secret>`)."""
    from mlstrat.accounts.services import token_create

    return token_create(user=user, name=kwargs.pop("name", "test"), **kwargs)[1]
