# The two commands of the README, plus the benchmarks. Each sets up .venv first if needed.
VENV ?= .venv
PY := $(VENV)/bin/python
PYTEST_ARGS ?=

.PHONY: env test demo bench clean-env

env:
	@bash tools/install_env.sh $(VENV)

test: env
	$(PY) -m pytest tests $(PYTEST_ARGS)

demo: env
	bash tools/demo.sh $(VENV)

bench: env
	$(PY) tools/benchmarks/learnloss_overhead.py
	$(PY) tools/benchmarks/scoring_throughput.py
	$(PY) tools/benchmarks/kcenter_benchmark.py

clean-env:
	rm -rf $(VENV)
