// The tickets linked to an incident or an alert (auto-ticketing opens one): number, status, priority
// and the SLA badge counting down. Nothing when there is none, or when the user may not read tickets.
import type { TicketList } from "../../api/types";
import { url } from "../../api/client";
import { Link } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import { SlaBadge, useNow } from "./SlaBadge";

const POLL_MS = 5000;

/** `links`: `kind:ref` values of the list's `link` filter (any of them: OR), e.g. `incident:inc_…`;
 * `none`: what to show when no ticket is linked (nothing by default). */
export function LinkedTickets({ links, testId, none }: { links: string[]; testId: string; none?: string }) {
  const { data } = usePoll<TicketList>(url("/api/v1/tickets", { link: links, sort: "priority" }), POLL_MS);
  const now = useNow(15_000);
  if (!data || data.tickets.length === 0) return none && data ? <span className="muted">{none}</span> : null;
  return (
    <span className="incident-tickets" data-testid={testId}>
      {data.tickets.map((t) => (
        <span key={t.ticket_id} className="incident-ticket" data-ticket={t.number}>
          <span className={`badge prio-${t.priority}`}>{t.priority}</span>{" "}
          <Link to={`/tickets/${t.number}`} className="mono">
            {t.number}
          </Link>{" "}
          <span className={`status st-${t.status}`}>{t.status.replace(/_/g, " ")}</span>{" "}
          <SlaBadge ticket={t} now={now} />
        </span>
      ))}
    </span>
  );
}
