// The SLA badge of a ticket row and the live timers of a ticket, re-rendered every second.
import { useEffect, useState } from "react";
import type { SlaTimer, Ticket } from "../../api/types";
import { clock, liveTimer, rowBadge } from "../../lib/sla";

export function useNow(everyMs = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const timer = setInterval(() => setNow(Date.now()), everyMs);
    return () => clearInterval(timer);
  }, [everyMs]);
  return now;
}

export function SlaBadge({ ticket, now }: { ticket: Ticket; now: number }) {
  const badge = rowBadge(ticket, now);
  if (!badge) return <span className="muted">no SLA running</span>;
  return (
    <span className={`sla sla-${badge.level}`} title={ticket.sla_due_at ? `due ${new Date(ticket.sla_due_at).toLocaleString()}` : undefined}>
      {badge.text}
    </span>
  );
}

export function SlaTimers({ timers }: { timers: SlaTimer[] }) {
  const now = useNow();
  if (timers.length === 0) return <p className="muted">No SLA timer.</p>;
  return (
    <ul className="sla-timers">
      {timers.map((t) => {
        const live = liveTimer(t, now);
        return (
          <li key={t.kind} className={`sla-timer sla-${live.level}`} data-testid={`sla-${t.kind}`}>
            <span className="sla-text">{live.text}</span>
            {live.left !== null && live.level !== "breached" && t.now?.state === "running" && (
              <span className="sla-clock mono" data-testid={`sla-clock-${t.kind}`}>
                {clock(live.left)}
              </span>
            )}
            <span className="sla-meter" aria-label={`${Math.round(live.pct)} % elapsed`}>
              <span style={{ width: `${Math.min(100, Math.max(0, live.pct))}%` }} />
            </span>
            <span className="muted small">
              {Math.round(live.pct)} % of {Math.round(t.target_s / 60)} min ({t.calendar})
              {t.now?.due_at ? `, due ${new Date(t.now.due_at).toLocaleString()}` : ""}
              {t.now && t.now.state !== "running" ? `, ${t.now.state}` : ""}
            </span>
          </li>
        );
      })}
    </ul>
  );
}
