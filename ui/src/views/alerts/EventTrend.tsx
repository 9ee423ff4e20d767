// The alert's occurrences over its last day of activity: 24 hourly bars (or finer for a younger
// alert) from GET /api/v1/events?fingerprint=…, reread when the event count changes.
import { useEffect, useState } from "react";
import { api, url } from "../../api/client";
import type { Alert } from "../../api/types";

const BUCKETS = 24;
const DAY = 86_400_000;

interface Trend {
  counts: number[];
  from: number;
  bucket: number;
  shown: number;
}

export function EventTrend({ alert }: { alert: Alert }) {
  const [trend, setTrend] = useState<Trend | null>(null);
  const [error, setError] = useState<string | null>(null);
  const { fingerprint, first_seen, last_seen, event_count } = alert;

  useEffect(() => {
    const controller = new AbortController();
    const to = Date.parse(last_seen) + 1;
    const from = Math.max(Date.parse(first_seen), to - DAY);
    const bucket = Math.max(60_000, Math.ceil((to - from) / BUCKETS));
    const query = { fingerprint, from: new Date(to - bucket * BUCKETS).toISOString(), to: new Date(to).toISOString(), limit: 1000 };
    api<{ events: { occurred_at: string }[] }>(url("/api/v1/events", query), { signal: controller.signal })
      .then((body) => {
        const start = to - bucket * BUCKETS;
        const counts = new Array<number>(BUCKETS).fill(0);
        for (const e of body.events) {
          const i = Math.floor((Date.parse(e.occurred_at) - start) / bucket);
          if (i >= 0 && i < BUCKETS) counts[i] += 1;
        }
        setTrend({ counts, from: start, bucket, shown: body.events.length });
      })
      .catch((err: Error) => !controller.signal.aborted && setError(err.message));
    return () => controller.abort();
  }, [fingerprint, first_seen, last_seen, event_count]);

  if (error) return <p className="error small">Occurrences: {error}</p>;
  if (!trend) return null;
  const max = Math.max(1, ...trend.counts);
  const width = 360;
  const height = 40;
  const bar = width / BUCKETS;
  const span = trend.bucket >= 3_600_000 ? `${Math.round(trend.bucket / 3_600_000)} h` : `${Math.round(trend.bucket / 60_000)} min`;
  return (
    <figure className="trend-chart" aria-label="Occurrences">
      <svg viewBox={`0 0 ${width} ${height}`} width="100%" height={height} role="img">
        {trend.counts.map((n, i) => {
          const h = n ? Math.max(2, (n / max) * (height - 2)) : 0;
          return (
            <rect key={i} x={i * bar + 1} y={height - h} width={bar - 2} height={h} className="trend-bar">
              <title>{`${n} event${n === 1 ? "" : "s"} from ${new Date(trend.from + i * trend.bucket).toLocaleString()}`}</title>
            </rect>
          );
        })}
        <line x1="0" x2={width} y1={height - 0.5} y2={height - 0.5} className="trend-axis" />
      </svg>
      <figcaption className="muted small">
        {trend.shown >= 1000 ? "1,000+ events" : `${trend.shown} event${trend.shown === 1 ? "" : "s"}`}, {span} per bar, up
        to the last one
      </figcaption>
    </figure>
  );
}
