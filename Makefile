# Two commands on a fresh machine (each creates or reuses the virtual environment .venv):
#   make results   the main job: execute every reproduction into results/
#   make test      every test: unit tests and nbval over notebooks/
# Also: make zoo (train the offline model zoo into ~/.cache/camkit), make benchmark (results/benchmark.md),
#       make app (the widgets explorer as a web page at http://127.0.0.1:8866/),
#       make seeds (every notebook claim against zoos trained with seeds 0-3: docs/seeds.md, about 2.5 hours).

VENV ?= .venv
PYTHON := $(VENV)/bin/python
TORCH := torch==2.14.1 torchvision==0.29.1
STAMP := $(VENV)/.camkit-installed

.PHONY: install test results zoo seeds benchmark app clean

install: $(STAMP)

$(STAMP): pyproject.toml
	test -x $(PYTHON) || python3 -m venv $(VENV)
	$(PYTHON) -m pip install --quiet $(TORCH)
	$(PYTHON) -m pip install --quiet -e '.[tests]'
	touch $(STAMP)

zoo: $(STAMP)
	CAMKIT_WEIGHTS=shapes $(PYTHON) data_scripts/train_zoo.py

# Tests run in WORKERS processes (pytest-xdist), each test file and each notebook whole in one of
# them (--dist loadfile: a notebook's cells share one kernel, in order), each process and kernel
# on one thread: with torch's default of a thread per core, two kernels fight for both cores (measured
# on 2 cores: not finished after 19 minutes, against 6.5 minutes for the whole run at one thread).
WORKERS ?= 2

# The tests and notebooks need the trained zoo: `zoo` builds what the cache lacks (about 25 minutes
# on 2 cores, once; a model cached with an older recipe is retrained), and CAMKIT_NO_TRAIN=1 makes any weights still missing an error, not a training run.
test: zoo
	CAMKIT_WEIGHTS=shapes CAMKIT_NO_TRAIN=1 MPLBACKEND=Agg OMP_NUM_THREADS=1 $(PYTHON) -m pytest -n $(WORKERS) --dist loadfile --nbval --nbval-current-env -p no:cacheprovider --durations=25 tests notebooks

# Builds the zoo first (with progress), then runs every notebook; a failed one is reported and saved.
results: $(STAMP)
	$(PYTHON) data_scripts/run_notebooks.py --out results

seeds: $(STAMP)
	MPLBACKEND=Agg $(PYTHON) data_scripts/check_seeds.py --seeds 0 1 2 3 --table docs/seeds.md

benchmark: $(STAMP)
	$(PYTHON) benchmarks/speed.py --out results/benchmark.md

app: $(STAMP)
	$(VENV)/bin/voila --no-browser --Voila.ip=127.0.0.1 --port=8866 notebooks/20_explorer.ipynb

clean:
	rm -rf results .pytest_cache
