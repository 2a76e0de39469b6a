# Eventscope: the commands a developer needs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: help venv demo test bench lint format lock kafka kafka-stop kafka-status kafka-reset clean

help:
	@echo "make demo          run Eventscope with Kafka, Redis, workers and the demo shop (Ctrl-C stops)"
	@echo "make test          run the whole suite (starts and stops its own Kafka and Redis)"
	@echo "make bench         run benchmarks/ and write benchmarks/results/"
	@echo "make lint          ruff check and format check"
	@echo "make kafka         start the local Apache Kafka (kafka-stop, kafka-status, kafka-reset)"

venv: .venv/.installed-lock
.venv/.installed-lock: requirements.lock
	@source dev/lib.sh && ensure_venv

demo:
	@dev/demo.sh

test: venv
	@source dev/lib.sh && ensure_chromium
	@dev/with-services.sh $(PY) -m pytest $(ARGS)

bench: venv
	@source dev/lib.sh && (apt_install wrk || echo "wrk unavailable: HTTP benchmarks use a Python load generator")
	@dev/with-services.sh $(PY) -m benchmarks.run $(ARGS)

lint: venv
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .

format: venv
	$(PY) -m ruff format .
	$(PY) -m ruff check --fix .

lock: venv
	.venv/bin/pip install -q -r requirements.in
	(echo "# Pinned, resolved dependencies of requirements.in (regenerate with: make lock)."; \
	 .venv/bin/pip freeze --exclude-editable | sort -f) > requirements.lock
	cp requirements.lock .venv/.installed-lock

kafka:
	@dev/kafka.sh start

kafka-stop:
	@dev/kafka.sh stop

kafka-status:
	@dev/kafka.sh status

kafka-reset:
	@dev/kafka.sh reset

clean:
	dev/kafka.sh stop || true
	rm -rf .run staticfiles benchmarks/results
