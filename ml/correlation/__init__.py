"""The pure correlation core: alert changes + the asset graph -> incident changes (event time only)."""
