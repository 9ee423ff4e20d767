// The pipeline's own health (GET /health): servers, stages with their lag, and the problems.
import type { Health as HealthBody } from "../../api/types";
import { number } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";

export default function Health() {
  // 503 is the answer while degraded: it still carries the report.
  const { data, error, loading } = usePoll<HealthBody>("/health", 5000, { okStatuses: [503] });
  if (!data) return <p className={error ? "error" : "empty"}>{error ? error.message : loading ? "Loading…" : ""}</p>;
  const stages = Object.entries(data.stages ?? {});
  return (
    <div className="page health">
      <header className="page-head">
        <h1>Pipeline health</h1>
        <span className={`pill ${data.status === "ok" ? "good" : "bad"}`} data-testid="health-status">
          {data.status}
        </span>
        {error && <span className="error">(last refresh failed: {error.message})</span>}
      </header>
      <section className="card" aria-label="Problems">
        <h2>Problems</h2>
        {data.problems.length === 0 ? (
          <p className="muted">None: every server answers and every stage is alive and keeping up.</p>
        ) : (
          <ul className="problems">
            {data.problems.map((p) => (
              <li key={p}>{p}</li>
            ))}
          </ul>
        )}
      </section>
      <div className="columns">
        <section className="card" aria-label="Servers">
          <h2>Servers</h2>
          <table className="grid">
            <thead>
              <tr>
                <th>Server</th>
                <th>State</th>
                <th>Answer</th>
              </tr>
            </thead>
            <tbody>
              {Object.entries(data.checks ?? {}).map(([name, c]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td>
                    <span className={`pill ${c.ok ? "good" : "bad"}`}>{c.ok ? "up" : "down"}</span>
                  </td>
                  <td>{c.ok ? `${number(c.latency_ms, 1)} ms` : c.error}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </section>
        <section className="card" aria-label="Stages">
          <h2>Stages</h2>
          <table className="grid">
            <thead>
              <tr>
                <th>Stage</th>
                <th>State</th>
                <th>Lag</th>
                <th>Instances</th>
                <th>Records</th>
                <th>Dead letters</th>
                <th title="Unreadable records this stage skipped; another stage dead-letters them">Skipped</th>
                <th>Last progress</th>
              </tr>
            </thead>
            <tbody>
              {stages.map(([name, s]) => (
                <tr key={name}>
                  <td>{name}</td>
                  <td>
                    <span className={`pill ${s.ok ? "good" : "bad"}`}>{s.ok ? "ok" : "problem"}</span>{" "}
                    {[...new Set(s.instances.map((i) => i.state).filter(Boolean))].join(", ")}
                  </td>
                  <td>{number(s.lag)}</td>
                  <td>{s.instances.length}</td>
                  <td>{number(s.instances.reduce((n, i) => n + (i.records ?? 0), 0))}</td>
                  <td>{number(s.instances.reduce((n, i) => n + (i.dead_letters ?? 0), 0))}</td>
                  <td>{number(s.instances.reduce((n, i) => n + (i.skipped ?? 0), 0))}</td>
                  <td>
                    {s.instances
                      .map((i) => i.last_progress_s)
                      .filter((x): x is number => x !== null)
                      .map((x) => `${number(x, 1)} s ago`)
                      .join(", ")}
                  </td>
                </tr>
              ))}
              {stages.length === 0 && (
                <tr>
                  <td colSpan={8} className="muted">
                    No stage has reported.
                  </td>
                </tr>
              )}
            </tbody>
          </table>
        </section>
      </div>
    </div>
  );
}
