// The moves of the ticket machines (ems.itsm.states.TRANSITIONS), to offer only the allowed ones.
// The API checks again: a move that lost a race, or a reopen past the reopen window, is a 409
// naming the moves allowed now, which the page shows.
import { post } from "../../api/client";
import type { TicketAnswer } from "../../api/types";

const MOVES: Record<string, Record<string, string[]>> = {
  incident: {
    new: ["in_progress", "on_hold", "resolved"],
    in_progress: ["on_hold", "resolved"],
    on_hold: ["in_progress", "resolved"],
    resolved: ["closed", "in_progress"],
  },
  problem: {
    new: ["assessed"],
    assessed: ["root_cause_known"],
    root_cause_known: ["fix_in_progress"],
    fix_in_progress: ["resolved"],
    resolved: ["closed"],
  },
  change: {
    draft: ["assessment"],
    assessment: ["approved", "rejected"],
    approved: ["scheduled"],
    rejected: ["closed"],
    scheduled: ["implementing"],
    implementing: ["review"],
    review: ["closed"],
  },
};
/** Statuses that need a pending reason, and the reasons there are. */
export const NEEDS_REASON = new Set(["incident:on_hold"]);
export const PENDING_REASONS = ["awaiting_caller", "awaiting_change", "awaiting_problem", "awaiting_vendor"];

export function moves(type: string, status: string): string[] {
  return MOVES[type]?.[status] ?? [];
}

export function label(status: string, from: string): string {
  if (from === "resolved" && status === "in_progress") return "Reopen";
  const text = status.replace(/_/g, " ");
  return text[0].toUpperCase() + text.slice(1);
}

export const ticketPath = (number: string, what = "") => `/api/v1/tickets/${encodeURIComponent(number)}${what}`;

/** A ticket command answered once applied (?wait=), with the ticket as GET gives it. */
export function command(number: string, what: string, body: unknown): Promise<TicketAnswer> {
  return post<TicketAnswer>(`${ticketPath(number, what)}?wait=10`, body);
}
