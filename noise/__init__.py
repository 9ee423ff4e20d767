"""Noise control (pure): matchers, maintenance windows, silences, inhibition, flapping and the decision."""
