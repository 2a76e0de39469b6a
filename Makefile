# Eventscope: the commands a developer needs. `make demo` and `make test` work on a fresh machine.
SHELL := /bin/bash
PY := .venv/bin/python

.PHONY: help venv demo test chaos bench lint format lock kafka kafka-stop kafka-status kafka-reset clean

help:
	@echo "make demo          run Eventscope with Kafka, Redis, workers and the demo shop (Ctrl-C stops)"
	@echo "make test          run the whole suite (starts and stops its own Kafka and Redis)"
	@echo "make chaos         only the fault tests (tests/chaos: private Kafka and Redis stopped, workers killed)"
	@echo "make bench         run benchmarks/ and write benchmarks/results/ (REPORT.md); ARGS=NAME runs one"
	@echo "make lint          ruff check and format check"
	@echo "make api-docs      regenerate the API reference docs/api/openapi.yaml from the code"
	@echo "make kafka         start the local Apache Kafka (kafka-stop, kafka-status, kafka-reset)"

venv: .venv/.installed-lock
.venv/.installed-lock: requirements.lock
	@source dev/lib.sh && ensure_venv

demo:
	@dev/demo.sh

test: venv
	@source dev/lib.sh && ensure_chromium
	@EVENTSCOPE_SECURE_KAFKA=1 dev/with-services.sh $(PY) -m pytest $(ARGS)

# The fault tests start, stop and kill their own private Kafka, Redis and Eventscope processes (tests/chaos);
# `make test` runs them too, with the rest of the suite.
chaos: venv
	@source dev/lib.sh && apt_install redis-server && ensure_chromium
	@$(PY) -m pytest tests/chaos -m chaos $(ARGS)

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

# The committed API reference (tests/eventscope/test_api_reference.py fails when it is out of date).
api-docs: venv
	$(PY) manage.py spectacular --validate --file docs/api/openapi.yaml
	@echo "wrote docs/api/openapi.yaml"

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
