"""prometheus-operator resources (ServiceMonitor, PodMonitor, Probe, ScrapeConfig) → Prometheus scrape_configs."""
