from django.contrib.auth import get_user_model
from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from mlstrat.accounts import selectors, services
from mlstrat.accounts.models import Membership, Project, Role
from mlstrat.accounts.permissions import require_member

from .filters import StrictQueryParams
from .scoping import ScopedModelSerializer
from .tokens import ApiTokenSerializer

User = get_user_model()


class ProjectSerializer(ScopedModelSerializer):
    role = serializers.SerializerMethodField()

    class Meta:
        model = Project
        fields = ["id", "slug", "name", "description", "created_at", "role"]
        read_only_fields = ["id", "slug", "created_at", "role"]

    def get_role(self, project) -> str | None:
        membership = project.memberships.filter(user=self.context["request"].user).first()
        return membership.role if membership else None


class VisibleUserField(serializers.SlugRelatedField):
    """A username among the accounts the caller may name (accounts.selectors.visible_users):
    any other answers exactly as one that does not exist."""

    def __init__(self, **kwargs):
        kwargs.setdefault("slug_field", "username")
        super().__init__(**kwargs)

    def get_queryset(self):
        request = self.context.get("request")
        if request is None:
            return User.objects.none()
        return selectors.visible_users(user=request.user)

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        user = self.get_queryset().filter(username=data).first()
        if user is None:
            raise serializers.ValidationError(selectors.no_account_message(data))
        return user


class MembershipSerializer(ScopedModelSerializer):
    username = VisibleUserField(source="user")

    class Meta:
        model = Membership
        fields = ["id", "username", "role", "created_at"]
        read_only_fields = ["id", "created_at"]
        # Said, never the model's default: naming an admin again must not demote them.
        extra_kwargs = {"role": {"required": True}}


class ProjectViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.CreateModelMixin,
    StrictQueryParams,
    viewsets.GenericViewSet,
):
    """Projects the caller belongs to. Anyone signed in may create one (and becomes its admin)."""

    serializer_class = ProjectSerializer
    lookup_field = "slug"

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return Project.objects.none()
        return selectors.projects_for_user(user=self.request.user)

    def perform_create(self, serializer):
        serializer.instance = services.project_create(
            owner=self.request.user, **serializer.validated_data
        )

    @extend_schema(request=MembershipSerializer, responses=MembershipSerializer(many=True))
    @action(
        detail=True,
        methods=["get", "post"],
        serializer_class=MembershipSerializer,
        pagination_class=None,  # a project's members come whole, as a plain list
    )
    def members(self, request, slug=None):
        project = self.get_object()
        if request.method == "POST":
            require_member(user=request.user, project=project, role=Role.ADMIN)
            serializer = MembershipSerializer(data=request.data, context={"request": request})
            serializer.is_valid(raise_exception=True)
            try:
                membership = services.membership_set(
                    project=project,
                    user=serializer.validated_data["user"],
                    role=serializer.validated_data["role"],
                )
            except services.LastAdminError as exc:
                raise serializers.ValidationError({"role": [str(exc)]}) from exc
            return Response(MembershipSerializer(membership).data, status=status.HTTP_201_CREATED)
        members = selectors.project_members(project=project)
        return Response(MembershipSerializer(members, many=True).data)

    @extend_schema(request=None, responses={204: None})
    @action(detail=True, methods=["delete"], url_path=r"members/(?P<username>[\w.@+-]+)")
    def remove_member(self, request, slug=None, username=None):
        project = self.get_object()
        require_member(user=request.user, project=project, role=Role.ADMIN)
        user = get_object_or_404(User, username=username, memberships__project=project)
        try:
            services.membership_remove(project=project, user=user)
        except services.LastAdminError as exc:
            raise serializers.ValidationError({"role": [str(exc)]}) from exc
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(
        request=None,
        responses={
            200: ApiTokenSerializer(many=True),
            (200, "DELETE"): inline_serializer(
                "MemberTokensRevoked", {"revoked": serializers.IntegerField()}
            ),
        },
    )
    @action(
        detail=True,
        methods=["get", "delete"],
        url_path=r"members/(?P<username>[\w.@+-]+)/tokens",
        serializer_class=ApiTokenSerializer,
        pagination_class=None,
    )
    def member_tokens(self, request, slug=None, username=None):
        """A member's API tokens (admins of the project); DELETE revokes them all."""
        project = self.get_object()
        require_member(user=request.user, project=project, role=Role.ADMIN)
        member = get_object_or_404(Membership, project=project, user__username=username)
        if request.method == "DELETE":
            revoked = services.tokens_revoke_all(user=member.user, by=request.user)
            return Response({"revoked": revoked})
        tokens = selectors.tokens_of_member(project=project, username=username)
        return Response(ApiTokenSerializer(tokens, many=True).data)

    @extend_schema(
        request=None, responses={204: None}, operation_id="projects_members_tokens_revoke_one"
    )
    @action(
        detail=True,
        methods=["delete"],
        url_path=r"members/(?P<username>[\w.@+-]+)/tokens/(?P<token_id>[0-9]+)",
    )
    def member_token_revoke(self, request, slug=None, username=None, token_id=None):
        """Revoke one of a member's API tokens (admins of the project)."""
        project = self.get_object()
        require_member(user=request.user, project=project, role=Role.ADMIN)
        token = get_object_or_404(
            selectors.tokens_of_member(project=project, username=username), pk=token_id
        )
        services.token_revoke(token=token, by=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
