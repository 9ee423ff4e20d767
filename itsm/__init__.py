"""ITSM lite: ticket status machines, priority, SLA calendars and timers, numbers and routing (pure)."""
