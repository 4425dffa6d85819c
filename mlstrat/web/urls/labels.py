"""Pages of the labels concern; views in mlstrat/web/views/labels.py."""

urlpatterns = []
