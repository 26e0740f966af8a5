# otel-operator: the commands a developer and CI need. `make help` lists them.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
ARGS ?=

.DEFAULT_GOAL := help
.PHONY: help deps upstream-e2e venv controlplane oracles helm collector image node manifests test unit integration lint format demo demo-node run cluster-up cluster-down bench crds

help: ## list the targets
	@grep -E '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $@

venv: $(VENV)/.installed ## create .venv with the package and its dev tools

deps: ## the Debian packages the tests need: installed as root (or INSTALL=1, with sudo), else named with the command
	bash hack/deps.sh

controlplane: ## find or build kube-apiserver, etcd, kube-controller-manager and kubectl (cached in ~/.cache/otel-operator)
	$(PYTHON) hack/localcluster.py build

oracles: ## find or build the oracles: Prometheus v3 with Kubernetes SD, prometheus-operator's generator (cached)
	$(PYTHON) hack/prometheus_oracle.py build
	$(PYTHON) hack/promop_oracle.py build

helm: ## find or build the Helm CLI, the chart tests' engine (cached too)
	$(PYTHON) hack/helm.py build

collector: ## find or build the OpenTelemetry Collector v0.158 (ocb: prometheus receiver, file exporter), the end-to-end tests' scraper (cached too)
	$(PYTHON) hack/collector.py build

image: ## build the project's image with podman (on a Debian base made here, or BASE=IMAGE; PUSH=REF pushes it); prints its name
	$(PYTHON) hack/nodeimages.py project $(if $(BASE),--base $(BASE)) $(if $(PUSH),--push $(PUSH))

node: controlplane collector ## find or build the real node: kubelet, kube-scheduler, its images (needs root and the node's packages; else says why and skips)
	$(PYTHON) hack/realnode.py build --if-available

test: deps venv controlplane oracles helm collector node lint ## everything CI runs: lint, unit and integration tests
	$(PY) -m pytest -q -ra $(ARGS)

unit: deps venv helm ## unit tests only (no cluster; the chart tests need the Helm CLI)
	$(PY) -m pytest -q tests/unit $(ARGS)

integration: deps venv controlplane oracles helm collector node ## integration tests only (starts a local control plane)
	$(PY) -m pytest -q tests/integration $(ARGS)

lint: venv ## ruff and mypy (strict on the package)
	$(VENV)/bin/ruff check operator tests hack bench
	$(VENV)/bin/ruff format --check operator tests hack bench
	$(VENV)/bin/mypy

format: venv ## apply ruff's fixes and formatting
	$(VENV)/bin/ruff check --fix operator tests hack bench
	$(VENV)/bin/ruff format operator tests hack bench

demo: venv controlplane ## local control plane + CRDs + the guide's collector + the operator
	$(PY) hack/demo.py $(ARGS)

demo-node: venv controlplane helm collector ## the guide's whole flow in real pods on a real node: helm install, the guide, real scrapes (root)
	$(PY) hack/demo_node.py $(ARGS)

run: venv ## the operator against your KUBECONFIG (or the local control plane's, when it is up)
	@kc=$${KUBECONFIG:-$$( [ -f .cluster/kubeconfig ] && echo .cluster/kubeconfig )}; \
	  $(VENV)/bin/otel-operator run $${kc:+--kubeconfig $$kc} $(ARGS)

cluster-up: controlplane $(if $(NODE),collector) ## start the local control plane (NODE=1: with a real node, so pods run); prints the kubeconfig path
	$(PYTHON) hack/localcluster.py up $(if $(NODE),--node)

cluster-down: ## stop the local control plane (and its node, if it has one)
	$(PYTHON) hack/localcluster.py down

upstream-e2e: venv controlplane ## upstream v0.158's own chainsaw e2e suites against this operator, test by test (NODE=1: pods really run, root; docs/upstream-e2e.md)
	$(if $(NODE),bash hack/deps.sh upstream-e2e)
	$(PYTHON) hack/chainsaw.py run $(if $(NODE),--real-node) $(ARGS)

bench: venv controlplane ## run the benchmarks; results go to docs/benchmarks.md
	$(PY) bench/run.py

crds: venv ## regenerate crds/ (and the tests' stand-ins for prometheus-operator's CRDs) from operator/otel_operator/api/crds.py
	$(PY) -m otel_operator.api.crds write crds/
	$(PY) -m otel_operator.api.crds write-standins tests/data/standin-crds/

manifests: helm ## copy crds/ into the chart and render deploy/otel-operator.yaml (the kubectl install) from it
	$(PYTHON) hack/helm.py manifests
