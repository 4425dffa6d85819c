"""Pages of the dashboard concern; views in mlstrat/web/views/dashboard.py.

- run-dashboard (slug, run pk): a run's figures (?review=<id> &rule=any|majority &split=).
- dataset-compare (slug, dataset pk): the dataset's runs compared, oldest to newest.
- dataset-analysis-settings (slug, dataset pk): POST, leads: team rule, human-level error.
- run-export (slug, run pk, kind sheet|summary, fmt csv|json): streamed download.
"""

from django.urls import path, re_path

from mlstrat.web.views import dashboard

urlpatterns = [
    path(
        "p/<slug:slug>/runs/<int:run_pk>/dashboard/",
        dashboard.run_dashboard,
        name="run-dashboard",
    ),
    path(
        "p/<slug:slug>/datasets/<int:dataset_pk>/compare/",
        dashboard.dataset_compare,
        name="dataset-compare",
    ),
    path(
        "p/<slug:slug>/datasets/<int:dataset_pk>/analysis-settings/",
        dashboard.analysis_settings,
        name="dataset-analysis-settings",
    ),
    re_path(
        r"^p/(?P<slug>[-a-zA-Z0-9_]+)/runs/(?P<run_pk>\d+)/export/(?P<kind>sheet|summary)\.(?P<fmt>csv|json)$",
        dashboard.run_export,
        name="run-export",
    ),
]
