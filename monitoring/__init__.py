"""Monitoring: consumer lag and latency pollers, alerts, /metrics, the correlation index and traces."""
