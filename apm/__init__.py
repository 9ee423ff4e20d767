"""APM lite: OTLP spans -> per-endpoint rates, errors, latency percentiles and the dependency map."""
