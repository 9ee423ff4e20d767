// The APM service map (`GET /api/v1/apm/services`, docs/apm.md): services with each endpoint's latest
// closed window (rate, error %, P95), the databases, and who calls whom. The API keeps figures per
// endpoint of the called service, not per edge: a call's row shows its callee's figures, summed
// (rate), request-weighted (error %) or the worst (P95) over the callee's endpoints.
import type { ApmEndpoint, ApmMap as ApmAnswer } from "../../api/types";
import { ago, number } from "../../lib/format";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";

const POLL_MS = 15_000;

export interface Figures {
  rate: number | null;
  errorPct: number | null;
  p95: number | null;
}

/** A service's figures over its endpoints: total rate, error % weighted by rate, the worst P95. */
export function figures(endpoints: ApmEndpoint[]): Figures {
  let rate = 0;
  let errors = 0;
  let p95: number | null = null;
  let any = false;
  for (const e of endpoints) {
    if (e.request_rate !== undefined) {
      any = true;
      rate += e.request_rate;
      errors += e.request_rate * (e.error_rate ?? 0);
    }
    if (e.p95_ms !== undefined) p95 = Math.max(p95 ?? 0, e.p95_ms);
  }
  return { rate: any ? rate : null, errorPct: any && rate > 0 ? (100 * errors) / rate : null, p95 };
}

const perSecond = (n: number | null | undefined) => (n === null || n === undefined ? "–" : `${number(n, 2)}/s`);
const pct = (n: number | null | undefined) => (n === null || n === undefined ? "–" : `${number(n, 1)} %`);
const ms = (n: number | null | undefined) => (n === null || n === undefined ? "–" : `${number(n, 1)} ms`);
const asset = (id: string, name: string | null) => <Link to={`/assets/${encodeURIComponent(id)}`}>{name ?? id}</Link>;

export default function ApmMap() {
  const { data, error, loading } = usePoll<ApmAnswer>("/api/v1/apm/services", POLL_MS);
  const byId = new Map((data?.services ?? []).map((s) => [s.asset_id, figures(s.endpoints)]));

  return (
    <div className="page apm">
      <div className="list-bar">
        <span className="count" data-testid="apm-count">
          {data ? `${data.services.length} services, ${data.databases.length} databases, ${data.edges.length} calls` : loading ? "Loading…" : ""}
        </span>
        {error && <span className="error">{error.message}</span>}
      </div>
      <div className="table-wrap">
        {data && data.services.length === 0 && <p className="empty">No service has sent traces yet (OTLP/HTTP to /v1/traces).</p>}
        {data && data.services.length > 0 && (
          <>
            <h2>Services</h2>
            <table className="grid apm-services" aria-label="APM services">
              <thead>
                <tr>
                  <th>Service</th>
                  <th>Endpoint</th>
                  <th>Rate</th>
                  <th>Errors</th>
                  <th>P95</th>
                  <th>Window</th>
                </tr>
              </thead>
              <tbody>
                {data.services.flatMap((s) => {
                  const total = byId.get(s.asset_id);
                  const head = (
                    <tr key={s.asset_id} data-apm-service={s.name} className="group-row">
                      <td>{asset(s.asset_id, s.name)}</td>
                      <td className="muted">all ({s.endpoints.length})</td>
                      <td>{perSecond(total?.rate)}</td>
                      <td>{pct(total?.errorPct)}</td>
                      <td>{ms(total?.p95)}</td>
                      <td title={s.last_seen ?? ""}>{s.last_seen ? `seen ${ago(s.last_seen)}` : ""}</td>
                    </tr>
                  );
                  return [
                    head,
                    ...s.endpoints.map((e) => (
                      <tr key={`${s.asset_id} ${e.endpoint}`} data-apm-endpoint={`${s.name} ${e.endpoint}`}>
                        <td />
                        <td className="mono">{e.endpoint}</td>
                        <td>{perSecond(e.request_rate)}</td>
                        <td>{pct(e.error_rate === undefined ? null : 100 * e.error_rate)}</td>
                        <td>{ms(e.p95_ms)}</td>
                        <td title={e.at ?? ""}>{ago(e.at)}</td>
                      </tr>
                    )),
                  ];
                })}
              </tbody>
            </table>
            <h2>Calls</h2>
            <table className="grid apm-edges" aria-label="APM calls">
              <thead>
                <tr>
                  <th>Caller</th>
                  <th>Calls</th>
                  <th>Kind</th>
                  <th title="the called service's figures over all its endpoints">Callee rate</th>
                  <th>Callee errors</th>
                  <th>Callee P95</th>
                </tr>
              </thead>
              <tbody>
                {data.edges.map((e) => {
                  const callee = byId.get(e.target);
                  return (
                    <tr key={`${e.source} ${e.type} ${e.target}`} data-apm-edge={`${e.source_name} ${e.target_name}`}>
                      <td>{asset(e.source, e.source_name)}</td>
                      <td>{asset(e.target, e.target_name)}</td>
                      <td>{e.target_type ?? ""}</td>
                      <td>{perSecond(callee?.rate)}</td>
                      <td>{pct(callee?.errorPct)}</td>
                      <td>{ms(callee?.p95)}</td>
                    </tr>
                  );
                })}
              </tbody>
            </table>
            {data.databases.length > 0 && (
              <>
                <h2>Databases</h2>
                <ul className="links">
                  {data.databases.map((d) => (
                    <li key={d.asset_id}>
                      {asset(d.asset_id, d.name)} <span className="muted">{d.system}</span>
                    </li>
                  ))}
                </ul>
              </>
            )}
          </>
        )}
      </div>
    </div>
  );
}
