# Gatepass developer commands. `make dev` and `make test` are all a fresh clone needs.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
DEV_DIR := .dev
K8S_BINS = $(shell hack/k8s-bins/build.sh)

.PHONY: help
help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(VENV)/.installed: pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@touch $@

.PHONY: venv
venv: $(VENV)/.installed ## create the virtualenv with the operator and the test tools

.PHONY: k8s-bins
k8s-bins: ## build kube-apiserver, kube-controller-manager, kubectl and etcd (cached in ~/.cache/gatepass)
	@hack/k8s-bins/build.sh

.PHONY: crds
crds: venv ## regenerate crds/ from the pydantic models
	$(PY) -m gatepass.api.crdgen crds/

.PHONY: helm
helm: ## build helm from source through the Go module proxy (cached in ~/.cache/gatepass)
	@hack/helm/build.sh

.PHONY: manifests
manifests: crds ## regenerate the webhook manifests and the Helm chart's CRDs, webhooks and RBAC
	$(PY) -m gatepass.devcluster.installgen

.PHONY: lock
lock: venv ## pin the operator image's Python dependencies (requirements.lock) to the tested ones
	$(PY) hack/lock_requirements.py

.PHONY: browser
browser: ## install Debian's chromium for the browser tests if /usr/bin/chromium is missing (playwright drives it)
	@hack/browser/install.sh

.PHONY: ui-vendor
ui-vendor: ## fetch htmx and its SSE extension from the npm registry at their pins, verify and extract them
	$(PYTHON) hack/ui_vendor.py fetch

.PHONY: ui-vendor-check
ui-vendor-check: ## offline: the vendored UI files match the hashes in their pin file
	$(PYTHON) hack/ui_vendor.py check

IMAGE ?= ghcr.io/gatepass/gatepass-operator:0.1.0
.PHONY: image
image: ## build the operator image (needs Docker)
	docker build -t $(IMAGE) .

.PHONY: dev
dev: venv k8s-bins ## start the control plane, the operator and the demo in the background
	$(PY) -m gatepass.devcluster.cli up --dir $(DEV_DIR) --bin-dir "$(K8S_BINS)"

.PHONY: node-deps
node-deps: ## install the Debian packages a local node needs (containerd, runc, CNI plugins, buildah, debootstrap, nftables)
	@hack/node/packages.sh

.PHONY: images
images: node-deps ## build the pause and operator images for the local node, without a registry (cached in ~/.cache/gatepass)
	@hack/node/images.sh

.PHONY: dev-incluster
dev-incluster: venv k8s-bins node-deps ## like `make dev`, plus a real node running the operator from charts/gatepass (needs root)
	$(PY) -m gatepass.devcluster.cli up --incluster --dir $(DEV_DIR) --bin-dir "$$(hack/node/build.sh)" \
	  --helm "$$(hack/helm/build.sh)" --images "$$(hack/node/images.sh)"

.PHONY: dev-down
dev-down: venv ## stop everything `make dev` or `make dev-incluster` started
	$(PY) -m gatepass.devcluster.cli down --dir $(DEV_DIR)

.PHONY: lint
lint: venv ## architecture rules (the core stays pure) and generated files up to date
	$(VENV)/bin/lint-imports
	$(PY) -m gatepass.api.crdgen --check crds/
	$(PY) -m gatepass.devcluster.installgen --check
	$(VENV)/bin/hadolint Dockerfile
	$(PYTHON) hack/ui_vendor.py check

.PHONY: test
test: venv k8s-bins browser lint ## the whole suite, end-to-end tests included, on a local control plane
	@set +e; $(PY) -m pytest $(PYTEST_ARGS); rc=$$?; \
	if [ $$rc -eq 5 ]; then echo "pytest collected no tests: failing the run" >&2; exit 1; fi; exit $$rc

.PHONY: screenshots
screenshots: venv k8s-bins browser ## run the Web UI's browser tests and keep their screenshots in docs/images/ui
	GATEPASS_SCREENSHOTS=$(CURDIR)/docs/images/ui $(PY) -m pytest tests/e2e/test_ui_browser.py \
		tests/e2e/test_ui_browser_resources.py -q $(PYTEST_ARGS)

.PHONY: test-unit
test-unit: venv ## only the fast unit tests
	$(PY) -m pytest tests/unit -q

.PHONY: test-kind
test-kind: venv ## the end-to-end suite against a kind cluster (needs Docker and kind)
	kind create cluster --name gatepass-e2e --kubeconfig $(DEV_DIR)/kind.kubeconfig
	GATEPASS_KUBECONFIG=$(DEV_DIR)/kind.kubeconfig $(PY) -m pytest tests/e2e; \
	rc=$$?; kind delete cluster --name gatepass-e2e; exit $$rc

.PHONY: bench
bench: venv k8s-bins browser ## latency, expiry, throughput, cost and restart figures at N=100, 1000, 10000 (bench/results.json), then bench-notify, bench-admission, bench-plugin and bench-ui
	$(PY) -m bench.run $(BENCH_ARGS)
	$(PY) -m bench.notify $(NOTIFY_ARGS)
	$(PY) -m bench.admission $(ADMISSION_ARGS)
	$(PY) -m bench.plugin $(PLUGIN_ARGS)
	$(PY) -m bench.ui $(UI_ARGS)

.PHONY: bench-plugin
bench-plugin: venv k8s-bins ## wall time of each kubectl access command and --help, warm, median and p95 (bench/plugin-results.json)
	$(PY) -m bench.plugin $(PLUGIN_ARGS)

.PHONY: bench-ui
bench-ui: venv k8s-bins browser ## the Web UI in Chromium: list page first paint at 1,000 requests, approval to the requester's page (bench/ui-results.json)
	$(PY) -m bench.ui $(UI_ARGS)

.PHONY: bench-admission
bench-admission: venv ## CPU time of reading one AccessRequest, AccessReview and AccessPolicy into core values (bench/admission-results.json)
	$(PY) -m bench.admission $(ADMISSION_ARGS)

.PHONY: bench-notify
bench-notify: venv k8s-bins ## notifications at N=1000: grant latency with and without three receivers, delivery, completeness (bench/notify-results.json)
	$(PY) -m bench.notify $(NOTIFY_ARGS)

.PHONY: clean
clean: dev-down ## stop everything and remove the virtualenv
	rm -rf $(VENV) $(DEV_DIR)
