// The business services (`GET /api/v1/services`): each with its assets, open alerts and their worst
// severity, linking to its graph. The first page is polled; further pages come with "Load more".
import { useState } from "react";
import { api, url } from "../../api/client";
import type { ServiceList, ServiceSummary } from "../../api/types";
import { number } from "../../lib/format";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";

const POLL_MS = 15_000;
const PAGE = 200;

export default function Services() {
  const first = usePoll<ServiceList>(url("/api/v1/services", { limit: PAGE }), POLL_MS);
  const [more, setMore] = useState<{ rows: ServiceSummary[]; cursor: string | null } | null>(null);
  const [loading, setLoading] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const rows = [...(first.data?.services ?? []), ...(more?.rows ?? [])];
  const cursor = more ? more.cursor : (first.data?.next_cursor ?? null);

  const loadMore = async () => {
    if (!cursor) return;
    setLoading(true);
    setError(null);
    try {
      const page = await api<ServiceList>(url("/api/v1/services", { limit: PAGE, cursor }));
      setMore((m) => ({ rows: [...(m?.rows ?? []), ...page.services], cursor: page.next_cursor ?? null }));
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setLoading(false);
    }
  };

  return (
    <div className="page">
      <div className="list-bar">
        <span className="count" data-testid="service-count">
          {first.data ? `${number(first.data.total)} business services` : first.loading ? "Loading…" : ""}
        </span>
        {(first.error || error) && <span className="error">{first.error?.message ?? error}</span>}
      </div>
      <div className="table-wrap">
        {first.data && rows.length === 0 && <p className="empty">No asset names a business service yet.</p>}
        {rows.length > 0 && (
          <table className="grid services" aria-label="Business services">
            <thead>
              <tr>
                <th>Service</th>
                <th>Assets</th>
                <th>Open alerts</th>
                <th>Worst open severity</th>
              </tr>
            </thead>
            <tbody>
              {rows.map((s) => (
                <tr key={s.name} data-service={s.name}>
                  <td>
                    <Link to={`/topology/${encodeURIComponent(s.name)}`}>{s.name}</Link>
                  </td>
                  <td>{number(s.assets)}</td>
                  <td>{number(s.open_alerts)}</td>
                  <td>{s.worst_severity ? <span className={`badge sev-${s.worst_severity}`}>{s.worst_severity}</span> : <span className="muted">none</span>}</td>
                </tr>
              ))}
            </tbody>
          </table>
        )}
        {cursor && (
          <button className="more-button" disabled={loading} onClick={() => void loadMore()}>
            {loading ? "Loading…" : "Load more"}
          </button>
        )}
      </div>
    </div>
  );
}
