// SLA wording and warning levels, as the API words them ("SLA resolution: 12 minutes remaining").
import type { SlaTimer, Ticket } from "../api/types";

/** "12 minutes" under two hours, else "3 hours 5 minutes" (the API's own wording). */
export function duration(seconds: number): string {
  const minutes = Math.floor(Math.max(seconds, 0) / 60);
  return minutes < 120 ? `${minutes} minutes` : `${Math.floor(minutes / 60)} hours ${minutes % 60} minutes`;
}

/** "14:05" or "2:03:07": a countdown clock. */
export function clock(seconds: number): string {
  const s = Math.max(0, Math.floor(seconds));
  const two = (n: number) => String(n).padStart(2, "0");
  const h = Math.floor(s / 3600);
  return h > 0 ? `${h}:${two(Math.floor((s % 3600) / 60))}:${two(s % 60)}` : `${Math.floor(s / 60)}:${two(s % 60)}`;
}

export type Level = "ok" | "notice" | "warn" | "crit" | "breached" | "stopped";

/** The warning level of elapsed %: the thresholds the ticket stage warns at (50, 75, 90, 100). */
export function levelOfPct(pct: number, breached: boolean): Level {
  if (breached || pct >= 100) return "breached";
  return pct >= 90 ? "crit" : pct >= 75 ? "warn" : pct >= 50 ? "notice" : "ok";
}

/** A timer read now: seconds left counted down from the API's reading while it runs. */
export function liveTimer(timer: SlaTimer, now: number) {
  const r = timer.now;
  if (!r) return { level: "stopped" as Level, text: `SLA ${timer.kind}: calendar ${timer.calendar} unknown`, left: null, pct: 0 };
  const running = r.state === "running";
  // Counted down between polls only round the clock: in business hours the clock may be closed now.
  const ticking = running && timer.calendar === "24x7";
  const left = ticking ? r.left_s - (now - Date.parse(r.at)) / 1000 : r.left_s;
  const pct = ticking ? Math.min(100, (100 * (timer.target_s - left)) / timer.target_s) : r.elapsed_pct;
  const breached = r.breached || (running && left <= 0);
  const text = breached
    ? `SLA ${timer.kind}: breached${r.breached_at ? ` at ${new Date(r.breached_at).toLocaleString()}` : ""}`
    : `SLA ${timer.kind}: ${duration(left)} remaining${running ? "" : ` (${r.state})`}`;
  const level: Level = !running && !breached ? "stopped" : levelOfPct(pct, breached);
  return { level, text, left, pct };
}

/** A list row's badge: the list has the earliest due time of a running timer but not its target, so
 * the level is from the share of the time from creation to that due time already gone (exact for a
 * round-the-clock timer never paused, close enough otherwise). */
export function rowBadge(t: Ticket, now: number): { level: Level; text: string } | null {
  if (t.breached) return { level: "breached", text: "SLA breached" };
  if (!t.sla_due_at) return null;
  const due = Date.parse(t.sla_due_at);
  const created = Date.parse(t.created_at);
  const left = (due - now) / 1000;
  if (left <= 0) return { level: "breached", text: "SLA breached" };
  const pct = due > created ? (100 * (now - created)) / (due - created) : 0;
  return { level: levelOfPct(pct, false), text: `SLA: ${duration(left)} remaining` };
}
