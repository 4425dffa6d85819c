"""Pages of the sheet concern; views in mlstrat/web/views/sheet.py."""

urlpatterns = []
