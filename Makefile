# sudo make demo | sudo make test | make docs | sudo make bench
VENV := .venv
PY := $(VENV)/bin/python
MC := $(VENV)/bin/minicontainer

DEMO_SCRIPT := echo "pid inside: $$$$"; echo "hostname: $$(hostname)"; id; \
	echo "processes:"; ps; echo "interfaces:"; ip link; echo; mc-probe

.PHONY: setup demo test test-unit test-integration test-vm docs bench clean

setup:
	scripts/bootstrap

demo: setup
	$(MC) run --hostname demo -- sh -c '$(DEMO_SCRIPT)'

test: setup
	$(PY) -m pytest -q tests
	scripts/test-vm
	$(MAKE) docs SPHINXOPTS="-W -n --keep-going"
	vagrant validate --ignore-provider

test-vm: setup
	scripts/test-vm

test-unit: setup
	$(PY) -m pytest -q tests/unit

test-integration: setup
	$(PY) -m pytest -q tests/integration

# -W -n: any warning, a broken reference inside the site included, fails the build.
docs:
	$(VENV)/bin/sphinx-build -q -b html $(SPHINXOPTS) docs docs/_build/html

bench: setup
	$(PY) benchmarks/bench.py

clean:
	rm -rf build *.egg-info minicontainer/_native*.so minicontainer/_native.c
