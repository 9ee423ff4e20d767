"""Correlation of alerts into incidents, business impact, scenarios and their evaluation."""
