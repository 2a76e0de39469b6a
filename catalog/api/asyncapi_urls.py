"""AsyncAPI export and import routes under /api/v1/."""

urlpatterns: list = []
