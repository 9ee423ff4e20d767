// Maintenance windows: the list with each one's status now (pending, active, ended) and its current
// or next interval; a form for a one-off window (scope by asset ids, services and matchers) and
// Cancel, both for operators only. Recurring schedules are made through the API.
import { useState } from "react";
import type { MaintenanceWindow, Matcher, WindowList } from "../../api/types";
import { post, url } from "../../api/client";
import { dateTime } from "../../lib/format";
import { formatMatchers, parseMatchers } from "../../lib/matchers";
import { usePoll } from "../../lib/usePoll";
import { useSession } from "../../session";

const POLL_MS = 5000;

export default function Windows() {
  const { can } = useSession();
  const { data, error, reload } = usePoll<WindowList>(url("/api/v1/maintenance-windows", { limit: 500 }), POLL_MS);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
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
      {write && <WindowForm onDone={(text) => (setMessage({ ok: true, text }), reload())} />}
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
                        <button onClick={() => void cancel(w.window_id)} data-action="cancel">
                          Cancel
                        </button>
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

/** A datetime-local input's value for `ms` (the browser's zone). */
function local(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

function WindowForm({ onDone }: { onDone: (text: string) => void }) {
  const [title, setTitle] = useState("");
  const [assets, setAssets] = useState("");
  const [services, setServices] = useState("");
  const [matchers, setMatchers] = useState("");
  const [start, setStart] = useState(() => local(Date.now()));
  const [end, setEnd] = useState(() => local(Date.now() + 3_600_000));
  const [mode, setMode] = useState("suppress");
  const [error, setError] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);

  const submit = async () => {
    setError(null);
    let parsed: Matcher[] = [];
    if (matchers.trim()) {
      const m = parseMatchers(matchers);
      if ("error" in m) return setError(`scope.matchers: ${m.error}`);
      parsed = m.matchers;
    }
    setBusy(true);
    try {
      const body = {
        title: title.trim(),
        mode,
        scope: { asset_ids: list(assets), business_services: list(services), matchers: parsed },
        schedule: { start: new Date(start).toISOString(), end: new Date(end).toISOString() },
      };
      const answer = await post<{ id: string }>("/api/v1/maintenance-windows?wait=10", body);
      setTitle("");
      setAssets("");
      setServices("");
      setMatchers("");
      onDone(`Maintenance window ${answer.id} created`);
    } catch (err) {
      setError(err instanceof Error ? err.message : String(err));
    } finally {
      setBusy(false);
    }
  };

  return (
    <form
      className="filter-bar create-form"
      aria-label="New maintenance window"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="row-bar">
        <input placeholder="Title" aria-label="Window title" value={title} onChange={(e) => setTitle(e.target.value)} />
        <input placeholder="Asset ids, comma-separated" aria-label="Asset ids" value={assets} onChange={(e) => setAssets(e.target.value)} />
        <input placeholder="Business services" aria-label="Business services" value={services} onChange={(e) => setServices(e.target.value)} />
        <input
          className="grow mono"
          placeholder='Matchers: source="nms"'
          aria-label="Window matchers"
          value={matchers}
          onChange={(e) => setMatchers(e.target.value)}
        />
      </div>
      <div className="row-bar">
        <label>
          From <input type="datetime-local" value={start} onChange={(e) => setStart(e.target.value)} aria-label="Start" />
        </label>
        <label>
          until <input type="datetime-local" value={end} onChange={(e) => setEnd(e.target.value)} aria-label="End" />
        </label>
        <select value={mode} onChange={(e) => setMode(e.target.value)} aria-label="Mode">
          <option value="suppress">suppress (keep, mark muted)</option>
          <option value="drop">drop</option>
        </select>
        <button type="submit" disabled={busy || !title.trim()}>
          Create window
        </button>
      </div>
      {error && (
        <p className="error" role="alert" data-testid="form-error">
          {error}
        </p>
      )}
    </form>
  );
}
