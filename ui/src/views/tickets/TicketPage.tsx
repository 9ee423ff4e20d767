// One ticket: its fields, the SLA timers counting down, the moves its status allows, assignment and
// new links (operators), the comments (and adding one), the links to its alerts, incident, assets and
// tickets, and its history.
import { useState } from "react";
import type { TicketDetail, TicketGroups } from "../../api/types";
import { dateTime, ago } from "../../lib/format";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import type { ViewProps } from "../../routes";
import { useSession } from "../../session";
import { command, label, moves, NEEDS_REASON, PENDING_REASONS, ticketPath } from "./moves";
import { SlaTimers } from "./SlaBadge";

const POLL_MS = 5000;

function linkTo(kind: string, ref: string): string | null {
  if (kind === "alert") return `/alerts?status=&selected=${encodeURIComponent(ref)}`;
  if (kind === "incident") return `/incidents/${encodeURIComponent(ref)}`;
  if (kind === "asset") return `/assets/${encodeURIComponent(ref)}`;
  if (kind === "ticket") return `/tickets/${encodeURIComponent(ref)}`;
  return null;
}

export default function TicketPage({ params }: ViewProps) {
  const { can } = useSession();
  const { data, error, reload } = usePoll<TicketDetail>(ticketPath(params.number), POLL_MS);
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const [reason, setReason] = useState("");
  const [pending, setPending] = useState(PENDING_REASONS[0]);
  const [comment, setComment] = useState("");
  const [visibility, setVisibility] = useState("work_note");
  const [group, setGroup] = useState("");
  const [assignee, setAssignee] = useState("");
  const [linkKind, setLinkKind] = useState("asset");
  const [linkRef, setLinkRef] = useState("");
  const groups = usePoll<TicketGroups>(can("write:tickets") ? "/api/v1/tickets/groups" : null, 0).data?.groups ?? [];
  if (!data) return <p className={error ? "error" : "empty"}>{error ? error.message : "Loading…"}</p>;
  const { ticket: t, sla, comments, links, history } = data;
  const write = can("write:tickets");

  const send = async (what: string, body: Record<string, unknown>, done: string) => {
    setBusy(true);
    setMessage(null);
    try {
      const answer = await command(t.number, what, body);
      setMessage({ ok: true, text: answer.status === "applied" ? done : `${done} (sent, not applied yet)` });
      return true;
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error ? err.message : String(err) });
      return false;
    } finally {
      setBusy(false);
      reload();
    }
  };
  const move = async (to: string) => {
    const body: Record<string, unknown> = { to, reason: reason.trim() || undefined };
    if (NEEDS_REASON.has(`${t.type}:${to}`)) body.pending_reason = pending;
    if (await send("/transition", body, `Moved to ${to.replace(/_/g, " ")}`)) setReason("");
  };
  const addComment = async () => {
    if (await send("/comments", { text: comment.trim(), visibility }, "Comment added")) setComment("");
  };
  const assign = async () => {
    // Only the fields typed in: an empty group keeps the group; the assignee "-" unassigns the person.
    const body: Record<string, unknown> = { reason: reason.trim() || undefined };
    if (group.trim()) body.group = group.trim();
    if (assignee.trim()) body.assignee = assignee.trim() === "-" ? "" : assignee.trim();
    if (await send("/assign", body, "Assigned")) {
      setGroup("");
      setAssignee("");
    }
  };
  const link = async () => {
    const ref = linkRef.trim();
    if (await send("/links", { kind: linkKind, ref, reason: reason.trim() || undefined }, `Linked ${linkKind} ${ref}`)) setLinkRef("");
  };
  const allowed = moves(t.type, t.status);

  return (
    <div className="page ticket-page">
      <header className="page-head">
        <span className={`badge prio-${t.priority}`}>{t.priority}</span>
        <h1>
          <span className="mono">{t.number}</span> {t.title}
        </h1>
        <span className={`status st-${t.status}`} data-testid="ticket-status">
          {t.status.replace(/_/g, " ")}
        </span>
        {t.pending_reason && <span className="muted">{t.pending_reason.replace(/_/g, " ")}</span>}
        <Link to="/tickets">All tickets</Link>
      </header>
      <div className="columns">
        <section className="card" aria-label="Fields">
          <h2>Ticket</h2>
          <dl className="facts">
            <dt>Type</dt>
            <dd>{t.type}</dd>
            <dt>Priority</dt>
            <dd>
              {t.priority} (impact {t.impact}, urgency {t.urgency})
            </dd>
            <dt>Assigned</dt>
            <dd data-testid="ticket-assigned">{[t.assignee, t.assignment_group].filter(Boolean).join(" / ") || "unassigned"}</dd>
            {t.requester && (
              <>
                <dt>Requester</dt>
                <dd>{t.requester}</dd>
              </>
            )}
            {t.services.length > 0 && (
              <>
                <dt>Services</dt>
                <dd>{t.services.join(", ")}</dd>
              </>
            )}
            {t.site && (
              <>
                <dt>Site</dt>
                <dd>{t.site}</dd>
              </>
            )}
            {t.tags.length > 0 && (
              <>
                <dt>Tags</dt>
                <dd>{t.tags.join(", ")}</dd>
              </>
            )}
            <dt>Opened</dt>
            <dd title={t.created_at}>
              {dateTime(t.created_at)} by {t.created_by}
            </dd>
            {t.resolved_at && (
              <>
                <dt>Resolved</dt>
                <dd>{dateTime(t.resolved_at)}</dd>
              </>
            )}
            {t.description && (
              <>
                <dt>Description</dt>
                <dd>{t.description}</dd>
              </>
            )}
          </dl>
        </section>
        <section className="card" aria-label="SLA" data-testid="sla">
          <h2>SLA</h2>
          <SlaTimers timers={sla} />
        </section>
      </div>
      {write && (
        <section className="card actions" aria-label="Actions">
          <h2>Work</h2>
          {allowed.length > 0 ? (
            <div className="buttons">
              <input placeholder="Reason (kept in the history)" value={reason} onChange={(e) => setReason(e.target.value)} aria-label="Reason" />
              {allowed.some((to) => NEEDS_REASON.has(`${t.type}:${to}`)) && (
                <select value={pending} onChange={(e) => setPending(e.target.value)} aria-label="Pending reason">
                  {PENDING_REASONS.map((r) => (
                    <option key={r} value={r}>
                      {r.replace(/_/g, " ")}
                    </option>
                  ))}
                </select>
              )}
              {allowed.map((to) => (
                <button key={to} onClick={() => void move(to)} disabled={busy} data-move={to}>
                  {label(to, t.status)}
                </button>
              ))}
            </div>
          ) : (
            <p className="muted">{t.status} is final: no move.</p>
          )}
          <div className="buttons">
            <input className="grow" placeholder="Comment" value={comment} onChange={(e) => setComment(e.target.value)} aria-label="Comment" />
            <select value={visibility} onChange={(e) => setVisibility(e.target.value)} aria-label="Visibility">
              <option value="work_note">work note</option>
              <option value="customer">customer</option>
            </select>
            <button onClick={() => void addComment()} disabled={busy || !comment.trim()}>
              Add comment
            </button>
          </div>
          <div className="buttons">
            <input
              placeholder={`Group (now ${t.assignment_group ?? "none"})`}
              list="ticket-groups"
              value={group}
              onChange={(e) => setGroup(e.target.value)}
              aria-label="Assign to group"
            />
            <datalist id="ticket-groups">
              {groups.map((g) => (
                <option key={g} value={g} />
              ))}
            </datalist>
            <input placeholder="Assignee (- unassigns)" value={assignee} onChange={(e) => setAssignee(e.target.value)} aria-label="Assign to person" />
            <button onClick={() => void assign()} disabled={busy || (!group.trim() && !assignee.trim())} data-action="assign">
              Assign
            </button>
          </div>
          <div className="buttons">
            <select value={linkKind} onChange={(e) => setLinkKind(e.target.value)} aria-label="Link kind">
              {["alert", "incident", "asset", "ticket"].map((k) => (
                <option key={k} value={k}>
                  {k}
                </option>
              ))}
            </select>
            <input
              placeholder={linkKind === "ticket" ? "Ticket number" : `${linkKind[0].toUpperCase()}${linkKind.slice(1)} id`}
              value={linkRef}
              onChange={(e) => setLinkRef(e.target.value)}
              aria-label="Link reference"
            />
            <button onClick={() => void link()} disabled={busy || !linkRef.trim()} data-action="link">
              Link
            </button>
          </div>
          {message && (
            <p className={message.ok ? "ok" : "error"} role="status" data-testid="ticket-message">
              {message.text}
            </p>
          )}
        </section>
      )}
      <div className="columns">
        <section className="card" aria-label="Links">
          <h2>Links ({links.length})</h2>
          <ul className="links">
            {links.map((l) => {
              const to = linkTo(l.kind, l.ref);
              return (
                <li key={`${l.kind}-${l.ref}`} data-link-kind={l.kind}>
                  {l.kind}: {to ? <Link to={to}>{l.ref}</Link> : l.ref}
                </li>
              );
            })}
          </ul>
        </section>
        <section className="card" aria-label="Comments">
          <h2>Comments ({comments.length})</h2>
          <ol className="history comments">
            {[...comments].reverse().map((c) => (
              <li key={c.version}>
                <span className="when" title={c.at}>
                  {ago(c.at)}
                </span>{" "}
                <span className="who">{c.actor}</span> <span className="muted">{c.visibility.replace("_", " ")}</span>
                <div className="reason">{c.text}</div>
              </li>
            ))}
          </ol>
        </section>
      </div>
      <section className="card" aria-label="History">
        <h2>History</h2>
        <ol className="history">
          {[...history].reverse().map((h) => (
            <li key={h.version}>
              <span className="when" title={h.at}>
                {dateTime(h.at)}
              </span>{" "}
              <strong>{h.kind}</strong>
              {h.from_status && h.from_status !== h.status ? ` ${h.from_status} → ${h.status}` : ""}
              {h.actor ? <span className="who"> by {h.actor}</span> : null}
              {h.reason ? <div className="reason">“{h.reason}”</div> : null}
            </li>
          ))}
        </ol>
      </section>
    </div>
  );
}
