// Operator actions on alerts: which apply in which status (the lifecycle's COMMAND_FROM), and
// sending them one alert at a time (the API has no bulk endpoint; each answers on its own).
import { ApiError, post } from "../../api/client";
import type { ActionAnswer, Alert } from "../../api/types";

export type Action = "ack" | "unack" | "shelve" | "unshelve" | "assign" | "close" | "reopen" | "note";

const INACTIVE = ["resolved", "closed", "expired"];
const FROM: Record<Action, (status: string) => boolean> = {
  ack: (s) => s === "open",
  unack: (s) => s === "acknowledged",
  shelve: (s) => s === "open" || s === "acknowledged",
  unshelve: (s) => s === "shelved",
  assign: (s) => s !== "closed",
  close: (s) => s !== "closed",
  reopen: (s) => INACTIVE.includes(s),
  note: () => true,
};

export const LABELS: Record<Action, string> = {
  ack: "Ack",
  unack: "Unack",
  shelve: "Shelve",
  unshelve: "Unshelve",
  assign: "Assign",
  close: "Close",
  reopen: "Reopen",
  note: "Add note",
};

export function allowed(action: Action, status: string): boolean {
  return FROM[action](status);
}

export interface ActionArgs {
  comment?: string;
  text?: string;
  duration?: number;
  user?: string;
  team?: string;
}

/** One action; with `wait` the answer comes once the lifecycle applied it (with the alert). */
export function act(alertId: string, action: Action, args: ActionArgs = {}, wait = 5): Promise<ActionAnswer> {
  const body = Object.fromEntries(Object.entries(args).filter(([, v]) => v !== undefined && v !== ""));
  const query = wait > 0 ? `?wait=${wait}` : "";
  return post<ActionAnswer>(`/api/v1/alerts/${encodeURIComponent(alertId)}/${action}${query}`, body);
}

export interface BulkResult {
  done: number;
  skipped: number;
  /** Not sent: the rate limit was reached (429) before their turn. */
  notSent: number;
  failed: { alert: Alert; reason: string }[];
}

/** `action` on every alert it applies to, four at a time; alerts in another status are skipped. */
export async function actOnAll(alerts: Alert[], action: Action, args: ActionArgs = {}): Promise<BulkResult> {
  const targets = alerts.filter((a) => allowed(action, a.status));
  const result: BulkResult = { done: 0, skipped: alerts.length - targets.length, notSent: 0, failed: [] };
  let throttled = false;
  let next = 0;
  const worker = async () => {
    while (next < targets.length && !throttled) {
      const alert = targets[next++];
      try {
        await act(alert.alert_id, action, args, 0);
        result.done += 1;
      } catch (err) {
        const reason = err instanceof ApiError ? `${err.status}: ${err.message}` : String(err);
        result.failed.push({ alert, reason });
        if (err instanceof ApiError && err.status === 429) throttled = true; // the rest would be refused too
      }
    }
  };
  await Promise.all([worker(), worker(), worker(), worker()]);
  result.notSent = targets.length - result.done - result.failed.length;
  return result;
}

export function describe(action: Action, r: BulkResult): string {
  const parts = [`${LABELS[action]}: ${r.done} sent`];
  if (r.skipped) parts.push(`${r.skipped} skipped (not in a status that allows it)`);
  if (r.notSent) parts.push(`${r.notSent} not sent (rate limit reached; try again shortly)`);
  if (r.failed.length) parts.push(`${r.failed.length} refused: ${r.failed[0].reason}`);
  return parts.join("; ");
}
