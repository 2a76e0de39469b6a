"""Eventscope: governance and event catalog for Kafka-based event-driven systems."""

from .celery import app as celery_app

__all__ = ["celery_app"]
