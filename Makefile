# The two commands a user types: `make compare` and `make test`.
# Both set up .venv/ on first use (scripts/setup_venv.sh; 8-18 min the first time on 2 cores,
# ~2 min when the built mmcv wheel is cached, seconds when nothing changed).
PY := .venv/bin/python
ARGS ?=

.PHONY: setup compare compare-smoke test test-fast lint format data-show bench clean-venv

setup:
	@bash scripts/setup_venv.sh

# Three seeds (the default profile's compare_seeds); ARGS="--seeds 0" runs one.
compare: setup
	$(PY) -m c2am_bench.cli compare $(ARGS)

compare-smoke: setup
	$(PY) -m c2am_bench.cli compare --profile smoke $(ARGS)

test: setup
	$(PY) -m pytest $(ARGS)

test-fast: setup
	$(PY) -m pytest -m "not slow" $(ARGS)

lint: setup
	$(PY) -m ruff check c2am_bench tests
	$(PY) -m ruff format --check c2am_bench tests

format: setup
	$(PY) -m ruff format c2am_bench tests

# Every benchmark; each rewrites its section of benchmarks/README.md with the figures measured.
bench: setup
	$(PY) benchmarks/bench_seeds.py
	@for b in benchmarks/bench_random_walk.py benchmarks/bench_crf.py; do \
	  if [ -f $$b ]; then $(PY) $$b || exit 1; fi; done
	$(PY) benchmarks/bench_channels_last.py
	$(PY) benchmarks/bench_bf16.py
	$(PY) benchmarks/bench_cache.py --profile default
	$(PY) benchmarks/bench_compare.py --profiles smoke,default --scaling

data-show: setup
	$(PY) -m c2am_bench.cli data show data/synthvoc-default-v3 $(ARGS)

clean-venv:
	rm -rf .venv
