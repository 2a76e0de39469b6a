"""The Celery application: Redis broker, configuration from Django settings (CELERY_*), tasks autodiscovered."""

import os

from celery import Celery

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")

app = Celery("eventscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
