# Developer shortcuts. The README has the full commands.
.PHONY: tools kind-up kind-down chart-test

# helm + kubectl into ./.tools/bin, prometheus + promtool from Debian
tools:
	bash scripts/install-tools.sh

# kind cluster with the operator installed and examples/local-cpu.yaml applied (env: see scripts/kind-up.sh)
kind-up:
	bash scripts/kind-up.sh

kind-down:
	kind delete cluster --name $${CLUSTER:-grpo}

# chart, alert rules and dashboard tests (real helm, promtool, prometheus)
chart-test:
	python -m pytest -q tests/integration/test_helm_chart.py tests/integration/test_prometheus_rules.py tests/integration/test_dashboard_prometheus.py
