"""The Celery application: Redis broker, configuration from Django settings (CELERY_*), tasks autodiscovered."""

import os
import time

from celery import Celery, platforms
from celery.signals import beat_init

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "eventscope.settings")

app = Celery("eventscope")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


FORCE_AFTER_S = 2.0  # a repeated signal this long after the first one exits at once


def stop_beat_between_ticks(sender, **_kwargs) -> None:
    """Make beat's SIGTERM / SIGINT ask for a stop instead of saving the schedule inside the signal handler.

    Celery's own handler saves the schedule (database queries, with django-celery-beat's
    DatabaseScheduler) right where the signal lands. When that is in the middle of one of beat's
    own queries, the handler's query waits for psycopg's connection lock, which the interrupted
    query holds: beat hangs until it is killed, and the schedule is not saved. Here the first
    signal only asks the loop to stop; beat leaves after the current tick (the DatabaseScheduler
    ticks at least every 5 s) and saves the schedule on its way out, outside any query.

    A process group often gets two signals at once (Ctrl-C reaches every process of the terminal's
    group, then a supervising script sends TERM): those count as one request. A signal repeated
    later (Ctrl-C pressed again) exits at once.
    """
    service = sender
    requested_at: list[float] = []

    def request_stop(_signum, _frame) -> None:
        now = time.monotonic()
        if requested_at and now - requested_at[0] >= FORCE_AFTER_S:
            raise SystemExit(1)
        if not requested_at:
            requested_at.append(now)
            service.stop()  # sets the flag the loop checks between ticks

    platforms.signals.update(SIGTERM=request_stop, SIGINT=request_stop)


beat_init.connect(stop_beat_between_ticks, dispatch_uid="eventscope-beat-stop-between-ticks", weak=False)
