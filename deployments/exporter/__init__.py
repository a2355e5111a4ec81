"""The Prometheus exporter: the metrics store as gauges for Grafana and other scrapers."""
