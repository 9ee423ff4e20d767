"""Notifications: routing rules, receivers, message bodies and signing, delivery (docs/noise.md)."""
