// One asset: its facts, open alerts, dependencies and dependents, and charts of its metrics.
import { useEffect, useState } from "react";
import { api, url } from "../../api/client";
import type { AssetDetail, LatestAnswer, SeriesAnswer } from "../../api/types";
import { TimeChart, type Line } from "../../components/TimeChart";
import { ago, dateTime, number } from "../../lib/format";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import type { ViewProps } from "../../routes";

const RANGES = [
  ["1 h", 3600, "1m"],
  ["6 h", 6 * 3600, "5m"],
  ["24 h", 86400, "15m"],
  ["7 d", 7 * 86400, "1h"],
] as const;
// Charted first when the asset has them: interface utilization, CPU, latency.
const PREFERRED = [/util/, /cpu/, /p95|latency/, /mem|storage/, /loss|error/];
const MAX_CHARTS = 8;

function rank(name: string): number {
  const i = PREFERRED.findIndex((re) => re.test(name));
  return i < 0 ? PREFERRED.length : i;
}

function unitOf(name: string): string {
  if (name.endsWith("_pct")) return "%";
  if (name.endsWith("_ms")) return " ms";
  if (name.endsWith("_ps")) return "/s";
  return "";
}

export default function AssetPage({ params }: ViewProps) {
  const id = params.id;
  const { data, error } = usePoll<AssetDetail>(`/api/v1/assets/${encodeURIComponent(id)}`, 10_000);
  const latest = usePoll<LatestAnswer>(url("/api/v1/metrics/latest", { asset: id }), 60_000);

  if (!data) return <p className={error ? "error" : "empty"}>{error ? error.message : "Loading…"}</p>;
  const { asset: a, dependencies, dependents, open_alerts } = data;
  const names = [...new Set((latest.data?.series ?? []).map((s) => s.name))].sort((x, y) => rank(x) - rank(y) || x.localeCompare(y));
  const facts: [string, unknown][] = [
    ["Id", a.asset_id],
    ["Type", a.type],
    ["Environment", a.environment],
    ["Business service", a.business_service],
    ["Criticality", a.criticality],
    ["Owner team", a.owner_team],
    ["Vendor / model", [a.vendor, a.model].filter(Boolean).join(" ")],
    ["Addresses", a.addresses?.join(", ")],
    ["Location", a.location],
    ["Lifecycle", a.lifecycle],
    ["Revenue per hour", a.revenue_per_hour != null ? number(a.revenue_per_hour) : null],
    ["Users served", a.users_served != null ? number(a.users_served) : null],
    ["Tags", a.tags?.join(", ")],
    ["Last seen", a.last_seen ? `${dateTime(a.last_seen)} (${ago(a.last_seen)})` : null],
  ];

  return (
    <div className="page asset-page">
      <header className="page-head">
        <h1>{a.name || a.asset_id}</h1>
        <span className="muted">{a.type}</span>
        <Link to={`/alerts?status=open&status=acknowledged&status=shelved&asset_id=${encodeURIComponent(a.asset_id)}`}>Alerts of this asset</Link>
        {a.business_service && <Link to={`/topology/${encodeURIComponent(a.business_service)}`}>Service topology</Link>}
      </header>
      <div className="columns">
        <section className="card">
          <h2>Facts</h2>
          <dl className="facts">
            {facts
              .filter(([, v]) => v !== null && v !== undefined && v !== "")
              .map(([k, v]) => (
                <div key={k} className="fact">
                  <dt>{k}</dt>
                  <dd>{String(v)}</dd>
                </div>
              ))}
          </dl>
        </section>
        <section className="card" aria-label="Open alerts">
          <h2>Open alerts ({open_alerts.length})</h2>
          {open_alerts.length === 0 && <p className="muted">None.</p>}
          <ul className="plain">
            {open_alerts.map((al) => (
              <li key={al.alert_id}>
                <span className={`badge sev-${al.severity}`}>{al.severity}</span>{" "}
                <Link to={`/alerts?status=&asset_id=${encodeURIComponent(a.asset_id)}&selected=${encodeURIComponent(al.alert_id)}`}>{al.title || al.event}</Link>{" "}
                <span className="muted">
                  {al.status}, {ago(al.last_seen)}
                </span>
              </li>
            ))}
          </ul>
          <h2>Depends on ({dependencies.length})</h2>
          <ul className="plain">
            {dependencies.map((d) => (
              <li key={`${d.type}-${d.target}`}>
                <span className="muted">{d.type}</span> <Link to={`/assets/${encodeURIComponent(d.target)}`}>{d.target}</Link>
              </li>
            ))}
          </ul>
          <h2>Needed by ({dependents.length})</h2>
          <ul className="plain">
            {dependents.map((d) => (
              <li key={`${d.type}-${d.source}`}>
                <span className="muted">{d.type}</span> <Link to={`/assets/${encodeURIComponent(d.source)}`}>{d.source}</Link>
              </li>
            ))}
          </ul>
        </section>
      </div>
      <Metrics assetId={a.asset_id} names={names.slice(0, MAX_CHARTS)} loading={latest.loading} />
    </div>
  );
}

function Metrics({ assetId, names, loading }: { assetId: string; names: string[]; loading: boolean }) {
  const [range, setRange] = useState(1);
  return (
    <section className="card metrics" aria-label="Metrics">
      <header className="page-head">
        <h2>Metrics</h2>
        {RANGES.map(([label], i) => (
          <button key={label} className={`chip${i === range ? " on" : ""}`} aria-pressed={i === range} onClick={() => setRange(i)}>
            {label}
          </button>
        ))}
      </header>
      {names.length === 0 && <p className="muted">{loading ? "Loading…" : "No metrics for this asset."}</p>}
      <div className="charts">
        {names.map((name) => (
          <MetricChart key={name} assetId={assetId} name={name} seconds={RANGES[range][1]} step={RANGES[range][2]} />
        ))}
      </div>
    </section>
  );
}

function MetricChart({ assetId, name, seconds, step }: { assetId: string; name: string; seconds: number; step: string }) {
  const [lines, setLines] = useState<Line[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    const controller = new AbortController();
    const to = Math.floor(Date.now() / 1000);
    api<SeriesAnswer>(url("/api/v1/metrics/series", { asset: assetId, name, from: to - seconds, to, step }), { signal: controller.signal })
      .then((body) =>
        setLines(
          body.series.map((s) => ({
            label: Object.entries(s.labels).map(([k, v]) => `${k}=${v}`).join(" ") || name,
            points: s.points.map((p) => ({ t: Date.parse(p.t) / 1000, v: p.avg })),
          })),
        ),
      )
      .catch((err: Error) => !controller.signal.aborted && setError(err.message));
    return () => controller.abort();
  }, [assetId, name, seconds, step]);
  if (error) return <p className="error">{name}: {error}</p>;
  if (!lines) return <p className="muted">{name}…</p>;
  return <TimeChart title={name} unit={unitOf(name)} lines={lines} />;
}
