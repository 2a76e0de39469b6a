"""Per-cluster Celery beat entries (django-celery-beat), kept in step with the rows they serve.

Discovery and the lag poller each keep one PeriodicTask per cluster. Both want the same things: an
interval schedule shared between entries of the same period, a save only when something changed (every
save makes beat reload all of its schedules), queued runs that expire when the next one is due (so an
absent worker never faces a backlog of identical runs), and instance deletes (which tell beat too).
"""

from __future__ import annotations

import json
from collections.abc import Iterable

from django_celery_beat.models import IntervalSchedule, PeriodicTask

__all__ = ["periodic_task_sync", "periodic_tasks_delete"]


def _interval(every: int) -> IntervalSchedule:
    found = IntervalSchedule.objects.filter(every=every, period=IntervalSchedule.SECONDS).order_by("pk").first()
    return found or IntervalSchedule.objects.create(every=every, period=IntervalSchedule.SECONDS)


def periodic_task_sync(
    *, name: str, task: str, every: int, args: list, enabled: bool = True, description: str = ""
) -> PeriodicTask:
    """Create or update the beat entry `name`: run `task(*args)` every `every` seconds."""
    wanted = {
        "task": task,
        "interval": _interval(every),
        "args": json.dumps(args),
        "kwargs": "{}",
        "enabled": enabled,
        "expire_seconds": every,
        "description": description,
    }
    entry = PeriodicTask.objects.filter(name=name).first()
    if entry is None:
        return PeriodicTask.objects.create(name=name, **wanted)
    if any(getattr(entry, field) != value for field, value in wanted.items()):
        for field, value in wanted.items():
            setattr(entry, field, value)
        entry.save()
    return entry


def periodic_tasks_delete(entries: Iterable[PeriodicTask]) -> None:
    # Instance deletes, not a queryset delete: that is what tells beat that its schedules changed.
    for entry in entries:
        entry.delete()
