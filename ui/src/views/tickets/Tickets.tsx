// The ticket board: tickets grouped by status (filterable by status, priority, assignee, group and
// breached), each with its priority, assignment and an SLA badge; polled with ETags. Operators open a
// ticket with "New ticket" (or from an alert) and work on it on its own page.
import { useState } from "react";
import type { Ticket, TicketList } from "../../api/types";
import { url } from "../../api/client";
import { ago, number } from "../../lib/format";
import { Link, navigate, useLocation } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import { useSession } from "../../session";
import NewTicket from "./NewTicket";
import { SlaBadge, useNow } from "./SlaBadge";

const POLL_MS = 5000;
/** Board order: the statuses of the three machines, work to do first. */
const ORDER = [
  "new", "draft", "assessment", "assessed", "approved", "root_cause_known", "scheduled", "in_progress",
  "fix_in_progress", "implementing", "review", "on_hold", "resolved", "rejected", "closed",
];
const FILTERS = [
  ["status", "Status", ["", "!closed", ...ORDER]],
  ["priority", "Priority", ["", "P1", "P2", "P3", "P4"]],
  ["type", "Type", ["", "incident", "problem", "change"]],
  ["breached", "SLA", ["", "true", "false"]],
] as const;

export default function Tickets() {
  const { search } = useLocation();
  const { can } = useSession();
  const [creating, setCreating] = useState(false);
  const get = (k: string, d = "") => search.get(k) ?? d;
  const status = get("status", "!closed");
  const query = {
    status,
    priority: get("priority"),
    type: get("type"),
    breached: get("breached"),
    assignee: get("assignee"),
    group: get("group"),
    q: get("q"),
    sort: "priority",
    limit: 500,
  };
  const { data, error, loading } = usePoll<TicketList>(url("/api/v1/tickets", query), POLL_MS);
  const now = useNow(15_000);
  const set = (key: string, value: string) => {
    const p = new URLSearchParams(search);
    if (value || key === "status") p.set(key, value);
    else p.delete(key);
    navigate(`/tickets${p.toString() ? `?${p}` : ""}`, { replace: true });
  };
  const groups = new Map<string, Ticket[]>();
  for (const t of data?.tickets ?? []) groups.set(t.status, [...(groups.get(t.status) ?? []), t]);
  const ordered = [...groups.entries()].sort(([a], [b]) => rank(a) - rank(b));

  return (
    <div className="page">
      <form className="filter-bar row-bar" aria-label="Ticket filters" onSubmit={(e) => e.preventDefault()}>
        {FILTERS.map(([key, label, values]) => (
          <label key={key}>
            {label}{" "}
            <select value={key === "status" ? status : get(key)} onChange={(e) => set(key, e.target.value)} aria-label={`Filter by ${label}`}>
              {values.map((v) => (
                <option key={v} value={v}>
                  {v === "" ? "any" : v === "!closed" ? "not closed" : key === "breached" ? (v === "true" ? "breached" : "not breached") : v}
                </option>
              ))}
            </select>
          </label>
        ))}
        {(["assignee", "group", "q"] as const).map((key) => (
          <input
            key={key}
            type="search"
            placeholder={key === "q" ? "Search title, number" : key}
            aria-label={`Filter by ${key}`}
            defaultValue={get(key)}
            onKeyDown={(e) => e.key === "Enter" && set(key, e.currentTarget.value.trim())}
          />
        ))}
      </form>
      {creating && <NewTicket onClose={() => setCreating(false)} />}
      <div className="list-bar">
        {can("write:tickets") && !creating && (
          <button className="primary" onClick={() => setCreating(true)} data-action="new-ticket">
            New ticket
          </button>
        )}
        <span className="count" data-testid="ticket-count">
          {data ? `${number(data.total)} tickets` : loading ? "Loading…" : ""}
        </span>
        {error && <span className="error">{error.message}</span>}
      </div>
      <div className="table-wrap">
        {data && data.tickets.length === 0 && <p className="empty">No ticket matches.</p>}
        {ordered.map(([st, rows]) => (
          <section key={st} aria-label={`Status ${st}`} className="ticket-group">
            <h2>
              <span className={`status st-${st}`}>{st.replace(/_/g, " ")}</span> <span className="muted">({rows.length})</span>
            </h2>
            <table className="grid tickets">
              <thead>
                <tr>
                  <th>Priority</th>
                  <th>Number</th>
                  <th>Title</th>
                  <th>Assigned</th>
                  <th>SLA</th>
                  <th>Changed</th>
                </tr>
              </thead>
              <tbody>
                {rows.map((t) => (
                  <tr key={t.ticket_id} data-ticket={t.number}>
                    <td>
                      <span className={`badge prio-${t.priority}`}>{t.priority}</span>
                    </td>
                    <td className="mono">
                      <Link to={`/tickets/${t.number}`}>{t.number}</Link>
                    </td>
                    <td>
                      {t.title} <span className="muted small">{t.type}</span>
                    </td>
                    <td>{[t.assignee, t.assignment_group].filter(Boolean).join(" / ") || <span className="muted">unassigned</span>}</td>
                    <td>
                      <SlaBadge ticket={t} now={now} />
                    </td>
                    <td title={t.updated_at}>{ago(t.updated_at, now)}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          </section>
        ))}
      </div>
    </div>
  );
}

function rank(status: string): number {
  const i = ORDER.indexOf(status);
  return i < 0 ? ORDER.length : i;
}
