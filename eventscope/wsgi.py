"""WSGI entry point (gunicorn eventscope.wsgi)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")
application = get_wsgi_application()
