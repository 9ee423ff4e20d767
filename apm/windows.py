"""Per service and endpoint, per window of event time: requests, errors and a latency sketch. Pure.

A server span counts in the window holding its END time (event time, not arrival), so replaying the
same records gives the same windows. A window closes once the service's watermark (the latest span
end seen of that service, less `grace`) passes its end; only closed windows are published, once each
(the metric store keeps the first sample of a series and time). A span of an already closed window is late: it
is counted in `late` and left out (its window was published).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from ems.apm.sketch import DDSketch
from ems.schemas.span import SpanBatch

NS = 1_000_000_000
WindowKey = tuple[int, str | None, str, str]  # (window start in s, tenant, service, endpoint)


@dataclass
class Window:
    """One endpoint's requests in one window."""

    start: int  # Unix seconds
    seconds: int
    tenant: str | None
    service: str
    endpoint: str
    latency: DDSketch = field(default_factory=DDSketch)
    requests: int = 0
    errors: int = 0

    @property
    def end(self) -> int:
        return self.start + self.seconds

    @property
    def error_rate(self) -> float:
        return self.errors / self.requests if self.requests else 0.0

    @property
    def rate(self) -> float:
        """Requests per second over the window."""
        return self.requests / self.seconds


@dataclass
class Windows:
    """The open windows of one service and its watermark."""

    seconds: int = 60
    grace: int = 10
    accuracy: float = 0.01
    open: dict[WindowKey, Window] = field(default_factory=dict)
    watermark_ns: int = 0  # the latest span end seen
    late: int = 0
    closed_until: int = 0  # windows ending at or before this (Unix s) were published

    def add(self, batch: SpanBatch) -> None:
        """Count the batch's server spans in their windows and advance the watermark."""
        for span in batch.spans:
            self.watermark_ns = max(self.watermark_ns, span.end_ns)
            if span.role != "server":
                continue
            start = span.end_ns // NS // self.seconds * self.seconds
            if start + self.seconds <= self.closed_until:
                self.late += 1
                continue
            key = (start, batch.tenant, batch.service, span.endpoint)
            window = self.open.get(key)
            if window is None:
                window = self.open[key] = Window(
                    start, self.seconds, batch.tenant, batch.service, span.endpoint, DDSketch(self.accuracy)
                )
            window.requests += 1
            window.errors += span.error
            window.latency.add(span.duration_ms)

    def close(self) -> list[Window]:
        """The windows the watermark has passed (end + grace), oldest first; removed from `open`."""
        horizon = self.watermark_ns // NS - self.grace
        self.closed_until = max(self.closed_until, horizon)
        done = sorted(
            (k for k, w in self.open.items() if w.end <= horizon), key=lambda k: (k[0], str(k[1]), k[2], k[3])
        )
        return [self.open.pop(k) for k in done]
