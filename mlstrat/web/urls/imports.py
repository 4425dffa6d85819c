"""Pages of the imports concern; views in mlstrat/web/views/imports.py."""

from django.urls import path

from mlstrat.web.views import imports

urlpatterns = [
    path("p/<slug:slug>/imports/", imports.imports, name="project-imports"),
    path("p/<slug:slug>/imports/<int:pk>/", imports.import_job, name="project-import-job"),
    path(
        "p/<slug:slug>/imports/<int:pk>/retry/",
        imports.import_job_retry,
        name="project-import-job-retry",
    ),
]
