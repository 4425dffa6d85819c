"""API tokens: POST /api/v1/token/ with a username and password makes one (what `mlstrat
push` and scripts use); /api/v1/tokens/ lists one's own, makes, rotates and revokes them
(revoke-all: sign out everywhere). A project's admins see and revoke their members' tokens
under /api/v1/projects/<slug>/members/<username>/tokens/ (mlstrat/api/accounts.py). The
secret is in the answer that makes the token, and never again."""

from django.conf import settings
from django.contrib.auth import authenticate
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.parsers import FormParser, JSONParser, MultiPartParser
from rest_framework.response import Response
from rest_framework.throttling import AnonRateThrottle
from rest_framework.views import APIView

from mlstrat.accounts import selectors, services
from mlstrat.accounts.login_throttle import lockout_response
from mlstrat.accounts.models import ApiToken
from mlstrat.web.addresses import client_address

from .filters import StrictQueryParams


class TokenThrottle(AnonRateThrottle):
    """Password guesses on the token endpoint, counted per client address (read through
    TRUSTED_PROXY_COUNT proxies: a client's own X-Forwarded-For changes nothing)."""

    scope = "anon"

    def get_ident(self, request):
        return client_address(request)


class ApiTokenSerializer(serializers.ModelSerializer):
    status = serializers.SerializerMethodField()

    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "expires_at", "last_used_at", "status"]
        read_only_fields = fields

    def get_status(self, token) -> str:
        from django.utils import timezone

        return token.status_at(timezone.now())


class NewApiTokenSerializer(ApiTokenSerializer):
    token = serializers.SerializerMethodField(help_text="The secret: shown this once.")

    class Meta(ApiTokenSerializer.Meta):
        fields = ["token", *ApiTokenSerializer.Meta.fields]
        read_only_fields = fields

    def get_token(self, token) -> str:
        return self.context["secret"]


def _days_field():
    return serializers.IntegerField(
        required=False,
        min_value=1,
        max_value=settings.MLSTRAT_TOKEN_MAX_DAYS,
        help_text=f"Days until it expires (default {settings.MLSTRAT_TOKEN_DAYS}).",
    )


class TokenCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=100, help_text="What the token is for.")
    days = _days_field()


class PasswordTokenSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)
    name = serializers.CharField(max_length=100, required=False, default="script")
    days = _days_field()


def _new_token_response(token, secret, code=status.HTTP_201_CREATED):
    return Response(NewApiTokenSerializer(token, context={"secret": secret}).data, status=code)


class TokenView(APIView):
    """POST username and password: a new API token (`Authorization: Token <secret>`)."""

    authentication_classes = []
    permission_classes = []
    throttle_classes = [TokenThrottle]
    parser_classes = [JSONParser, FormParser, MultiPartParser]

    @extend_schema(
        request=PasswordTokenSerializer,
        responses={200: NewApiTokenSerializer},
        auth=[],
    )
    def post(self, request):
        incoming = PasswordTokenSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        data = incoming.validated_data
        # The Django request: django-axes marks it when this client or username is held off.
        user = authenticate(
            request=request._request, username=data["username"], password=data["password"]
        )
        if getattr(request._request, "axes_locked_out", False):
            return lockout_response(request._request)
        if user is None:
            raise serializers.ValidationError(
                {"non_field_errors": ["Unable to log in with provided credentials."]}
            )
        token, secret = services.token_create(user=user, name=data["name"], days=data.get("days"))
        return _new_token_response(token, secret, code=status.HTTP_200_OK)


class ApiTokenViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    mixins.DestroyModelMixin,
    StrictQueryParams,
    viewsets.GenericViewSet,
):
    """The caller's own API tokens (working or expired; revoked ones are gone)."""

    serializer_class = ApiTokenSerializer

    def get_queryset(self):
        if getattr(self, "swagger_fake_view", False):
            return ApiToken.objects.none()
        return selectors.tokens_for_user(user=self.request.user)

    @extend_schema(request=TokenCreateSerializer, responses={201: NewApiTokenSerializer})
    def create(self, request):
        incoming = TokenCreateSerializer(data=request.data)
        incoming.is_valid(raise_exception=True)
        token, secret = services.token_create(
            user=request.user,
            name=incoming.validated_data["name"],
            days=incoming.validated_data.get("days"),
        )
        return _new_token_response(token, secret)

    def perform_destroy(self, instance):
        services.token_revoke(token=instance, by=self.request.user)

    @extend_schema(request=None, responses={201: NewApiTokenSerializer})
    @action(detail=True, methods=["post"])
    def rotate(self, request, pk=None):
        """A new secret under the same name; this one stops working."""
        token, secret = services.token_rotate(token=self.get_object(), by=request.user)
        return _new_token_response(token, secret)

    @extend_schema(
        request=None,
        responses={200: inline_serializer("Revoked", {"revoked": serializers.IntegerField()})},
    )
    @action(detail=False, methods=["post"], url_path="revoke-all")
    def revoke_all(self, request):
        """Sign out everywhere: every token of the caller stops working, this one too."""
        revoked = services.tokens_revoke_all(user=request.user, by=request.user)
        return Response({"revoked": revoked})


def register(router):
    router.register("tokens", ApiTokenViewSet, basename="api-token-mine")


urlpatterns = []
