from django.contrib.auth import views as auth_views
from django.urls import include, path, re_path

from mlstrat.web.views import account, health, media, projects

urlpatterns = [
    path("healthz", health.healthz, name="healthz"),
    path("login/", auth_views.LoginView.as_view(redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("", projects.project_list, name="project-list"),
    path("account/tokens/", account.tokens, name="account-tokens"),
    path("account/tokens/<int:pk>/rotate/", account.token_rotate, name="account-token-rotate"),
    path("account/tokens/<int:pk>/revoke/", account.token_revoke, name="account-token-revoke"),
    path(
        "account/sign-out-everywhere/",
        account.sign_out_everywhere,
        name="account-sign-out-everywhere",
    ),
    path("p/<slug:slug>/", projects.project_home, name="project-home"),
    path("p/<slug:slug>/members/", projects.members, name="project-members"),
    path(
        "p/<slug:slug>/members/<str:username>/remove/",
        projects.member_remove,
        name="project-member-remove",
    ),
    path(
        "p/<slug:slug>/members/<str:username>/tokens/revoke/",
        projects.member_tokens_revoke,
        name="project-member-tokens-revoke",
    ),
    path(
        "p/<slug:slug>/invitations/", projects.invitation_create, name="project-invitation-create"
    ),
    path("invite/<str:token>/", projects.invitation_accept, name="invitation-accept"),
    re_path(
        r"^examples/(?P<pk>\d+)/(?P<kind>image|thumbnail)/$",
        media.example_image,
        name="example-image",
    ),
    path("", include("mlstrat.web.urls.imports")),
    path("", include("mlstrat.web.urls.sheet")),
    path("", include("mlstrat.web.urls.dashboard")),
    path("", include("mlstrat.web.urls.labels")),
    path("", include("mlstrat.web.urls.mismatch")),
]
