"""The one error type of the noise core: a rule, window, silence or policy that cannot be used."""

from __future__ import annotations


class RuleError(ValueError):
    """Bad input; `field` names the part at fault (the API answers it with a 4xx naming that field)."""

    def __init__(self, field: str, message: str) -> None:
        self.field = field
        self.reason = message
        super().__init__(f"{field}: {message}")
