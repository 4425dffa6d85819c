"""Pages of the dashboard concern; views in mlstrat/web/views/dashboard.py."""

urlpatterns = []
