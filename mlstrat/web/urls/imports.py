"""Pages of the imports concern; views in mlstrat/web/views/imports.py."""

urlpatterns = []
