// One alert beside the list: its fields, duplicate count and trend, the actions its status allows
// (for users who may write), and its history, newest first.
import { useState } from "react";
import { post } from "../../api/client";
import type { AlertDetail as Detail, TicketAnswer } from "../../api/types";
import { Link, navigate } from "../../lib/router";
import { ago, dateTime, TREND_ARROWS } from "../../lib/format";
import { usePoll } from "../../lib/usePoll";
import { useSession } from "../../session";
import { act, allowed, LABELS, type Action, type ActionArgs } from "./actions";
import { EventTrend } from "./EventTrend";
import { LinkedTickets } from "../tickets/LinkedTickets";

const DETAIL_POLL_MS = 5000;
const SHELVE_CHOICES = [
  ["15 min", 900],
  ["1 hour", 3600],
  ["4 hours", 14400],
  ["1 day", 86400],
] as const;

export function AlertDetail({ alertId, onClose, onChanged }: { alertId: string; onClose: () => void; onChanged: () => void }) {
  const { can } = useSession();
  const { data, error, reload } = usePoll<Detail>(`/api/v1/alerts/${encodeURIComponent(alertId)}`, DETAIL_POLL_MS);
  const [comment, setComment] = useState("");
  const [shelveFor, setShelveFor] = useState<number>(3600);
  const [assignee, setAssignee] = useState("");
  const [busy, setBusy] = useState<Action | null>(null);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);

  if (!data) {
    return (
      <aside className="detail" aria-label="Alert detail">
        <header className="detail-head">
          <span>{error ? error.message : "Loading…"}</span>
          <button onClick={onClose} aria-label="Close detail">
            ✕
          </button>
        </header>
      </aside>
    );
  }
  const { alert: a, history, muting } = data;

  const openTicket = async () => {
    setMessage(null);
    try {
      const answer = await post<TicketAnswer>("/api/v1/tickets?wait=10", { alert_id: a.alert_id, reason: comment || undefined });
      if (answer.number) navigate(`/tickets/${answer.number}`);
      else setMessage({ ok: true, text: "Ticket: sent, not numbered yet (see Tickets)" });
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
  };

  const run = async (action: Action, args: ActionArgs = {}) => {
    setBusy(action);
    setMessage(null);
    try {
      const answer = await act(a.alert_id, action, { comment: comment || undefined, ...args });
      setMessage({ ok: true, text: answer.status === "applied" ? `${LABELS[action]}: done` : `${LABELS[action]}: sent, not applied yet` });
      setComment("");
      reload();
      onChanged();
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error ? err.message : String(err) });
    } finally {
      setBusy(null);
    }
  };
  const button = (action: Action, args?: ActionArgs, label?: string) =>
    allowed(action, a.status) && (
      <button key={action} onClick={() => void run(action, args)} disabled={busy !== null} data-action={action}>
        {busy === action ? "…" : (label ?? LABELS[action])}
      </button>
    );

  return (
    <aside className="detail" aria-label="Alert detail">
      <header className="detail-head">
        <span className={`badge sev-${a.severity}`}>{a.severity}</span>
        <span className={`status st-${a.status}`} data-testid="detail-status">
          {a.status}
        </span>
        <button onClick={onClose} aria-label="Close detail" className="close">
          ✕
        </button>
      </header>
      <h2 className="detail-title">{a.title || a.event}</h2>
      {a.text && <p className="detail-text">{a.text}</p>}
      {muting?.muted && (
        <p className="muting" data-testid="muting">
          Muted
          {muting.silenced_by.map((id) => (
            <span key={id}>
              {" "}
              by silence <Link to={`/silences`}>{id}</Link>
            </span>
          ))}
          {muting.suppressed_by.map((w) => (
            <span key={w.window_id}>
              {" "}
              by maintenance window <Link to="/maintenance">{w.title}</Link>
              {w.ends_at ? ` until ${dateTime(w.ends_at)}` : ""}
              {w.mode === "drop" ? " (drop)" : ""}
            </span>
          ))}
        </p>
      )}
      <dl className="facts">
        <dt>Duplicates</dt>
        <dd>
          <strong>{a.duplicate_count}</strong> ({a.event_count} events)
        </dd>
        <dt>Severity trend</dt>
        <dd>
          <span className={`trend ${a.trend}`}>{TREND_ARROWS[a.trend]}</span> {a.trend.replace("_", " ")}
          {a.previous_severity ? ` (was ${a.previous_severity})` : ""}
        </dd>
        <dt>Resource</dt>
        <dd>{a.resource}</dd>
        <dt>Event</dt>
        <dd>{a.event}</dd>
        {a.asset_id && (
          <>
            <dt>Asset</dt>
            <dd>
              <Link to={`/assets/${encodeURIComponent(a.asset_id)}`}>{a.asset_id}</Link>
            </dd>
          </>
        )}
        {a.incident_id && (
          <>
            <dt>Incident</dt>
            <dd>
              <Link to={`/incidents/${encodeURIComponent(a.incident_id)}`} data-testid="detail-incident">
                {a.incident_id}
              </Link>
            </dd>
          </>
        )}
        {can("read:tickets") && (
          <LinkedTicketsRow links={[`alert:${a.alert_id}`, ...(a.incident_id ? [`incident:${a.incident_id}`] : [])]} />
        )}
        <dt>Source</dt>
        <dd>{a.source}</dd>
        <dt>Environment</dt>
        <dd>{a.environment}</dd>
        {a.service.length > 0 && (
          <>
            <dt>Service</dt>
            <dd>{a.service.join(", ")}</dd>
          </>
        )}
        <dt>First seen</dt>
        <dd title={a.first_seen}>{dateTime(a.first_seen)}</dd>
        <dt>Last seen</dt>
        <dd title={a.last_seen}>
          {dateTime(a.last_seen)} ({ago(a.last_seen)})
        </dd>
        {a.acked_by && (
          <>
            <dt>Acked by</dt>
            <dd>
              {a.acked_by} {a.ack_until ? `until ${dateTime(a.ack_until)}` : ""}
            </dd>
          </>
        )}
        {a.shelved_by && (
          <>
            <dt>Shelved by</dt>
            <dd>
              {a.shelved_by} {a.shelved_until ? `until ${dateTime(a.shelved_until)}` : ""}
            </dd>
          </>
        )}
        {(a.assignee || a.assigned_team) && (
          <>
            <dt>Assigned</dt>
            <dd>{[a.assignee, a.assigned_team].filter(Boolean).join(" / ")}</dd>
          </>
        )}
        {a.tags.length > 0 && (
          <>
            <dt>Tags</dt>
            <dd>{a.tags.join(", ")}</dd>
          </>
        )}
        {Object.keys(a.attributes).length > 0 && (
          <>
            <dt>Attributes</dt>
            <dd className="mono small">{Object.entries(a.attributes).map(([k, v]) => `${k}=${JSON.stringify(v)}`).join("  ")}</dd>
          </>
        )}
      </dl>
      <EventTrend alert={a} />

      {can("write:alerts") && (
        <section className="actions" aria-label="Actions">
          <input placeholder="Comment (kept in the history)" value={comment} onChange={(e) => setComment(e.target.value)} aria-label="Comment" />
          <div className="buttons">
            {button("ack")}
            {button("unack")}
            {allowed("shelve", a.status) && (
              <span className="joined">
                <select value={shelveFor} onChange={(e) => setShelveFor(Number(e.target.value))} aria-label="Shelve for">
                  {SHELVE_CHOICES.map(([label, s]) => (
                    <option key={s} value={s}>
                      {label}
                    </option>
                  ))}
                </select>
                {button("shelve", { duration: shelveFor })}
              </span>
            )}
            {button("unshelve")}
            {button("close")}
            {button("reopen")}
          </div>
          <div className="buttons">
            {allowed("assign", a.status) && (
              <>
                <input placeholder="user" value={assignee} onChange={(e) => setAssignee(e.target.value)} aria-label="Assign to user" />
                <button onClick={() => void run("assign", { user: assignee.trim() })} disabled={busy !== null || !assignee.trim()}>
                  Assign
                </button>
              </>
            )}
            {can("write:tickets") && (
              <button onClick={() => void openTicket()} disabled={busy !== null} data-action="open-ticket" title="An incident ticket linked to this alert, its asset and incident">
                Open ticket
              </button>
            )}
            <button onClick={() => void run("note", { text: comment })} disabled={busy !== null || !comment.trim()} title="The comment above, as a note">
              Add note
            </button>
          </div>
          {message && <p className={message.ok ? "ok" : "error"}>{message.text}</p>}
        </section>
      )}

      <section aria-label="History">
        <h3>History</h3>
        <ol className="history">
          {[...history].reverse().map((h) => (
            <li key={`${h.event_id}-${h.kind}`}>
              <span className="when" title={h.at}>
                {ago(h.at)}
              </span>{" "}
              <strong>{h.kind}</strong>
              {h.previous_status && h.status && h.previous_status !== h.status ? ` ${h.previous_status} → ${h.status}` : ""}
              {h.previous_severity && h.previous_severity !== h.severity ? ` ${h.previous_severity} → ${h.severity}` : ""}
              {h.actor ? <span className="who"> by {h.actor}</span> : null}
              {h.reason ? <div className="reason">“{h.reason}”</div> : null}
            </li>
          ))}
        </ol>
      </section>
    </aside>
  );
}

// The tickets of the alert or of its incident, with their SLA countdown (seed Example 1: "SLA: 12
// minutes remaining" on the alert too).
function LinkedTicketsRow({ links }: { links: string[] }) {
  return (
    <>
      <dt>Tickets</dt>
      <dd>
        <LinkedTickets links={links} testId="detail-tickets" none="none" />
      </dd>
    </>
  );
}
