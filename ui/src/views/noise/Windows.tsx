// Maintenance windows: the list with each one's status now (pending, active, ended) and its current
// or next interval; for operators only, a form for a new window (one-off, daily or weekly), Edit
// (the same form on the window, sent as a PATCH) and Cancel.
import { useState } from "react";
import type { MaintenanceWindow, Matcher, WindowList } from "../../api/types";
import { post, url } from "../../api/client";
import { dateTime } from "../../lib/format";
import { formatMatchers } from "../../lib/matchers";
import { usePoll } from "../../lib/usePoll";
import { useSession } from "../../session";
import WindowForm from "./WindowForm";

const POLL_MS = 5000;

export default function Windows() {
  const { can } = useSession();
  const { data, error, reload } = usePoll<WindowList>(url("/api/v1/maintenance-windows", { limit: 500 }), POLL_MS);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [editing, setEditing] = useState<MaintenanceWindow | null>(null);
  const write = can("write:suppressions");

  const cancel = async (id: string) => {
    setMessage(null);
    try {
      await post(`/api/v1/maintenance-windows/${encodeURIComponent(id)}/cancel?wait=10`, {});
      setMessage({ ok: true, text: `${id} cancelled` });
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
    reload();
  };

  return (
    <div className="page">
      {write && !editing && <WindowForm onDone={(text) => (setMessage({ ok: true, text }), reload())} />}
      {write && editing && (
        <WindowForm
          key={editing.window_id}
          editing={editing}
          onDone={(text) => (setMessage({ ok: true, text }), setEditing(null), reload())}
          onClose={() => setEditing(null)}
        />
      )}
      <div className="list-bar">
        <span className="count" data-testid="window-count">
          {data ? `${data.total} maintenance windows` : ""}
        </span>
        {error && <span className="error">{error.message}</span>}
        {message && (
          <span className={message.ok ? "ok" : "error"} role="status">
            {message.text}
          </span>
        )}
      </div>
      <div className="table-wrap">
        {data && data.windows.length === 0 && <p className="empty">No maintenance window.</p>}
        {data && data.windows.length > 0 && (
          <table className="grid windows" aria-label="Maintenance windows">
            <thead>
              <tr>
                <th>Status</th>
                <th>Title</th>
                <th>Scope</th>
                <th>Schedule</th>
                <th>Now or next</th>
                <th>Mode</th>
                <th>By</th>
                {write && <th />}
              </tr>
            </thead>
            <tbody>
              {data.windows.map((w) => (
                <tr key={w.window_id} data-window-id={w.window_id}>
                  <td>
                    <span className={`status st-${w.status}`}>{w.cancelled_at ? "cancelled" : w.status}</span>
                  </td>
                  <td>
                    {w.title} <span className="mono small muted">{w.window_id}</span>
                  </td>
                  <td className="small">{describeScope(w.scope)}</td>
                  <td className="small">{describeSchedule(w.schedule)}</td>
                  <td className="small">{w.starts_at ? `${dateTime(w.starts_at)} – ${dateTime(w.ends_at)}` : "–"}</td>
                  <td>{w.mode}</td>
                  <td>{w.created_by}</td>
                  {write && (
                    <td>
                      {!w.cancelled_at && w.status !== "ended" && (
                        <span className="buttons">
                          <button onClick={() => setEditing(w)} data-action="edit">
                            Edit
                          </button>{" "}
                          <button onClick={() => void cancel(w.window_id)} data-action="cancel">
                            Cancel
                          </button>
                        </span>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

function describeScope(scope: MaintenanceWindow["scope"]): string {
  return Object.entries(scope)
    .filter(([, v]) => Array.isArray(v) && v.length > 0)
    .map(([k, v]) => (k === "matchers" ? formatMatchers(v as Matcher[]) : `${k.replace(/_/g, " ")}: ${(v as string[]).join(", ")}`))
    .join("; ");
}

function describeSchedule(s: MaintenanceWindow["schedule"]): string {
  if (!s.frequency) return `once, ${dateTime(s.start as string)} – ${dateTime(s.end as string)}`;
  const days = [s.weekdays, s.month_days].filter((d) => Array.isArray(d) && d.length).map((d) => (d as unknown[]).join(","));
  return `${s.frequency as string} ${s.hours as string} ${(s.timezone as string) ?? ""} ${days.join(" ")}`.trim();
}
