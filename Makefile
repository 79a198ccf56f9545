# `make run` and `make test` work on a fresh machine: they build .venv first.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: run test bench browser venv clean

# the parser's C fast path is built by the editable install: a changed source rebuilds it
$(STAMP): pyproject.toml setup.py parsing/_fastcore.c
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[test]'
	touch $(STAMP)

venv: $(STAMP)

# The end-to-end test against a real framework (tests/capture/test_hf_tiny.py: a tiny GPT-2 trained
# by the Hugging Face Trainer, captured) needs torch, transformers and accelerate, which trainboard
# itself does not. Installed once, when a CPU build of torch is at hand (a local wheel: a `+cpu`
# version is never a multi-GB CUDA download from PyPI); else that one test is skipped.
TORCH_SPEC ?= torch==2.13.0+cpu
E2E_STAMP  := $(VENV)/.e2e-stamp
$(E2E_STAMP): $(STAMP)
	@$(PY) -m pip install -q '$(TORCH_SPEC)' 'transformers>=5' 'accelerate>=1.1' >/dev/null 2>&1 \
	  || echo "make: no CPU build of torch at hand ($(TORCH_SPEC)); the real-framework test will be skipped" >&2
	@touch $(E2E_STAMP)

run: $(STAMP)
	$(VENV)/bin/trainboard demo --serve

# Browser tests need Debian's chromium and chromium-driver; install them when we can.
browser:
	@command -v chromedriver >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver) \
	      || echo "make: could not install chromium; browser tests will be skipped" >&2; \
	  else echo "make: chromium-driver missing and not root; browser tests will be skipped" >&2; fi; }

# pytest's exit code 5 (no tests collected) is a failure, not a pass.
test: $(STAMP) $(E2E_STAMP) browser
	@$(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	  if [ $$rc -eq 5 ]; then echo "make: pytest collected no tests" >&2; exit 1; fi; exit $$rc

bench: $(STAMP)
	@for f in bench/*_bench.py; do echo "== $$f"; $(PY) $$f || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis
