"""Service discovery besides the Kubernetes roles' indexes: role selectors, and the polled kinds (HTTP, file, DNS).

Each polled kind is a pure part (its config parsed, its answer turned into target groups, as Prometheus does) and
a thin async poller in `pollers`.
"""
