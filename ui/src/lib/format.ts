// Display helpers: severities, relative times, numbers.

export const SEVERITIES = [
  "critical",
  "major",
  "minor",
  "warning",
  "indeterminate",
  "informational",
  "debug",
  "normal",
  "ok",
  "cleared",
] as const;

export const STATUSES = ["open", "acknowledged", "shelved", "resolved", "closed", "expired"] as const;
export const ACTIVE_STATUSES = ["open", "acknowledged", "shelved"];

/** Rank of a severity: 0 is the most severe; unknown ones after the known. */
export function severityRank(severity: string): number {
  const i = (SEVERITIES as readonly string[]).indexOf(severity);
  return i < 0 ? SEVERITIES.length : i;
}

export function ago(iso: string | null | undefined, now: number = Date.now()): string {
  if (!iso) return "";
  const s = Math.round((now - Date.parse(iso)) / 1000);
  if (Number.isNaN(s)) return iso;
  const a = Math.abs(s);
  const text =
    a < 60 ? `${a}s` : a < 3600 ? `${Math.floor(a / 60)}m` : a < 86400 ? `${Math.floor(a / 3600)}h` : `${Math.floor(a / 86400)}d`;
  return s >= 0 ? `${text} ago` : `in ${text}`;
}

export function dateTime(iso: string | null | undefined): string {
  if (!iso) return "";
  const d = new Date(iso);
  return Number.isNaN(d.getTime()) ? iso : d.toLocaleString();
}

export function number(n: number | null | undefined, digits = 0): string {
  if (n === null || n === undefined || Number.isNaN(n)) return "–";
  return n.toLocaleString(undefined, { maximumFractionDigits: digits });
}

export const TREND_ARROWS: Record<string, string> = {
  more_severe: "▲",
  less_severe: "▼",
  no_change: "",
  new: "",
};

/** Revenue at risk: "$25,000/h" (the assets' revenue_per_hour, in the inventory's currency). */
export function perHour(n: number | null | undefined): string {
  return n ? `$${number(n)}/h` : "–";
}

/** A share (0..1) as a whole percentage: 0.873 -> "87%". */
export function percent(share: number | null | undefined): string {
  return share === null || share === undefined || Number.isNaN(share) ? "–" : `${Math.round(100 * share)}%`;
}
