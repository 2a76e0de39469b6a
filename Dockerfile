# Eventscope application image: one image for every app process (web, Celery worker and beat,
# trace indexer, simulator); docker-compose.yml picks the process with `command:`.
#
#   docker build -t eventscope .
#   docker run -e DJANGO_SECRET_KEY=... -e DATABASE_URL=... -p 8000:8000 eventscope
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Dependencies before the source, so that a code change reuses this (slow) layer. Every
# dependency ships manylinux wheels for CPython 3.11, so the slim image needs no compiler.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock

COPY . .

# Static files are collected into the image (whitenoise serves them). Settings refuse to load
# without a secret key, so this step alone gets a throwaway one: it signs nothing and is not in
# the image's environment. The run dir is pointed at /tmp because settings create it for the
# default SQLite database, which this step never opens.
RUN DJANGO_SECRET_KEY=collectstatic-build-only-not-a-secret EVENTSCOPE_RUN_DIR=/tmp/build-run \
        python manage.py collectstatic --noinput \
    && rm -rf /tmp/build-run

# Run as an unprivileged user. It owns only the run dir (SQLite file and secret-key file when
# those defaults are used); the code and the collected static files stay read-only to it.
RUN useradd --system --uid 10001 --user-group --home-dir /app --no-create-home --shell /usr/sbin/nologin eventscope \
    && mkdir -p /app/.run \
    && chown eventscope:eventscope /app/.run
ENV EVENTSCOPE_RUN_DIR=/app/.run
USER eventscope

EXPOSE 8000

# slim has no curl; Python's urllib is enough. urlopen raises on a 503 (database unreachable),
# so the exit code follows /healthz. This check fits the web process only: compose overrides it
# for the worker and disables it for the other processes.
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

CMD ["gunicorn", "eventscope.wsgi:application", "--bind", "0.0.0.0:8000", "--workers", "3", "--access-logfile", "-"]
