// The incident list: open incidents first (sorted as chosen, impact by default), then the latest
// resolved and merged ones; both polled with ETags like the alert console. Read-only.
import type { Incident, IncidentList } from "../../api/types";
import { url } from "../../api/client";
import { ago, number, perHour } from "../../lib/format";
import { Link, navigate, useLocation } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";

const POLL_MS = 5000;
const SORTS = [
  ["-impact", "Impact"],
  ["-revenue", "Revenue at risk"],
  ["severity", "Severity"],
  ["-alerts", "Members"],
  ["-updated_at", "Recently changed"],
  ["-opened_at", "Recently opened"],
] as const;

export default function Incidents() {
  const { search } = useLocation();
  const sort = search.get("sort") ?? "-impact";
  const q = search.get("q") ?? "";
  const open = usePoll<IncidentList>(url("/api/v1/incidents", { status: "open", sort, q, limit: 200 }), POLL_MS);
  const closed = usePoll<IncidentList>(url("/api/v1/incidents", { status: "!open", sort: "-updated_at", q, limit: 50 }), POLL_MS);
  const set = (key: string, value: string) => {
    const p = new URLSearchParams(search);
    if (value) p.set(key, value);
    else p.delete(key);
    navigate(`/incidents${p.toString() ? `?${p}` : ""}`, { replace: true });
  };
  const error = open.error ?? closed.error;

  return (
    <div className="page">
      <form className="filter-bar" aria-label="Incident filters" onSubmit={(e) => e.preventDefault()}>
        <input
          type="search"
          className="grow"
          placeholder="Search title, incident or asset id"
          aria-label="Search incidents"
          defaultValue={q}
          onKeyDown={(e) => e.key === "Enter" && set("q", e.currentTarget.value.trim())}
        />
        <select value={sort} onChange={(e) => set("sort", e.target.value)} aria-label="Sort open incidents">
          {SORTS.map(([v, label]) => (
            <option key={v} value={v}>
              {label}
            </option>
          ))}
        </select>
      </form>
      <div className="list-bar">
        <span className="count" data-testid="incident-count">
          {open.data ? `${number(open.data.total)} open` : open.loading ? "Loading…" : ""}
        </span>
        {error && <span className="error">{error.message}</span>}
      </div>
      <div className="table-wrap">
        <IncidentTable rows={open.data?.incidents ?? []} label="Open incidents" />
        {open.data && open.data.incidents.length === 0 && <p className="empty">No open incident.</p>}
        {(closed.data?.incidents.length ?? 0) > 0 && (
          <>
            <h2 className="muted">Resolved and merged, latest first</h2>
            <IncidentTable rows={closed.data!.incidents} label="Resolved and merged incidents" />
          </>
        )}
      </div>
    </div>
  );
}

function IncidentTable({ rows, label }: { rows: Incident[]; label: string }) {
  if (rows.length === 0) return null;
  return (
    <table className="grid incidents" aria-label={label}>
      <thead>
        <tr>
          <th>Severity</th>
          <th>Impact</th>
          <th>Incident</th>
          <th>Members</th>
          <th>Root cause</th>
          <th>Revenue at risk</th>
          <th>Status</th>
          <th>Changed</th>
        </tr>
      </thead>
      <tbody>
        {rows.map((i) => (
          <tr key={i.incident_id} data-incident-id={i.incident_id}>
            <td>
              <span className={`badge sev-${i.severity}`}>{i.severity}</span>
            </td>
            <td className="c-num">
              <strong>{number(i.impact_score, 1)}</strong>
            </td>
            <td>
              <Link to={`/incidents/${encodeURIComponent(i.incident_id)}`}>{i.title || i.incident_id}</Link>
            </td>
            <td className="c-num">{i.alerts}</td>
            <td>{i.root_cause ? i.root_cause.evidence : <span className="muted">none evident</span>}</td>
            <td className="c-num">{perHour(i.revenue_per_hour)}</td>
            <td>
              <span className={`status st-${i.status}`}>{i.status}</span>
              {i.merged_into && (
                <>
                  {" into "}
                  <Link to={`/incidents/${encodeURIComponent(i.merged_into)}`}>{i.merged_into}</Link>
                </>
              )}
            </td>
            <td title={`opened ${i.opened_at}, changed ${i.updated_at}`}>{ago(i.updated_at)}</td>
          </tr>
        ))}
      </tbody>
    </table>
  );
}
