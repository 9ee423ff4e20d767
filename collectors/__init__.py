"""Collectors: processes that observe the outside world and append observations to Kafka."""
