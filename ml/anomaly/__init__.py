"""Online anomaly detection on metric samples (river Half-Space Trees per metric family): docs/anomaly.md."""
