// The alert console's filter state and the API's filter grammar (README, "Querying alerts").
// A filter is the query string the list endpoint takes; saved views store that string.
import { ACTIVE_STATUSES } from "./format";

export interface AlertFilter {
  status: string[];
  severity: string[];
  q: string;
  /** Other conditions in the grammar, `&`-separated: `environment=prod&tag=db&duplicate_count>=10`. */
  extra: string;
  sort: string;
}

export const DEFAULT_FILTER: AlertFilter = {
  status: ACTIVE_STATUSES,
  severity: [],
  q: "",
  extra: "",
  sort: "-last_seen",
};

const OWN = new Set(["status", "severity", "q", "sort", "limit", "cursor", "page", "total", "selected"]);

/** The `extra` text as (key, value) pairs, split at the first `=` of each term; values are literal
 * (no URL decoding: a regex may hold `+` or `%`). Terms without `=` are reported. */
export function parseExtra(text: string): { pairs: [string, string][]; errors: string[] } {
  const pairs: [string, string][] = [];
  const errors: string[] = [];
  for (const raw of text.split("&")) {
    const term = raw.trim();
    if (!term) continue;
    const at = term.indexOf("=");
    if (at <= 0) {
      errors.push(`“${term}” is not field=value (or !=, =~, >=, <=)`);
      continue;
    }
    pairs.push([term.slice(0, at).trim(), term.slice(at + 1).trim()]);
  }
  return { pairs, errors };
}

/** The filter as the list endpoint's query parameters. */
export function toParams(filter: AlertFilter): URLSearchParams {
  const p = new URLSearchParams();
  filter.status.filter(Boolean).forEach((s) => p.append("status", s));
  filter.severity.filter(Boolean).forEach((s) => p.append("severity", s));
  if (filter.q.trim()) p.set("q", filter.q.trim());
  for (const [k, v] of parseExtra(filter.extra).pairs) p.append(k, v);
  if (filter.sort && filter.sort !== DEFAULT_FILTER.sort) p.set("sort", filter.sort);
  return p;
}

/** A filter from query parameters (the page URL or a saved view); unknown keys go to `extra`. */
export function fromParams(p: URLSearchParams): AlertFilter {
  const given = [...p.keys()].some((k) => k !== "selected");
  if (!given) return { ...DEFAULT_FILTER };
  const extra: string[] = [];
  p.forEach((value, key) => {
    if (!OWN.has(key)) extra.push(`${key}=${value}`);
  });
  return {
    status: p.getAll("status").filter(Boolean),
    severity: p.getAll("severity").filter(Boolean),
    q: p.get("q") ?? "",
    extra: extra.join("&"),
    sort: p.get("sort") ?? DEFAULT_FILTER.sort,
  };
}

/** The page's query string for a filter: empty for the default (so `/alerts` is the default view). */
export function filterSearch(filter: AlertFilter): string {
  if (sameFilter(filter, DEFAULT_FILTER)) return "";
  const p = toParams(filter);
  if (filter.status.length === 0) p.set("status", ""); // "any status" must survive a reload
  return p.toString();
}

export function sameFilter(a: AlertFilter, b: AlertFilter): boolean {
  return toParams(a).toString() === toParams(b).toString();
}

/** Sort keys: clicking a column sorts by it descending, again ascending. */
export function toggleSort(current: string, field: string): string {
  const first = current.split(",")[0] ?? "";
  if (first === `-${field}`) return field;
  return `-${field}`;
}

export function sortOf(current: string, field: string): "asc" | "desc" | null {
  const first = current.split(",")[0] ?? "";
  if (first === field) return "asc";
  if (first === `-${field}`) return "desc";
  return null;
}

// -- saved views (localStorage) ---------------------------------------------------------------------

export interface SavedView {
  name: string;
  query: string;
}

const VIEWS_KEY = "ems.alertViews.v1";

export const BUILT_IN_VIEWS: SavedView[] = [
  { name: "Active", query: "" },
  { name: "Open, critical and major", query: "status=open&severity=critical&severity=major&sort=severity%2C-last_seen" },
  { name: "Unassigned open", query: "status=open&assignee%21=*" },
  { name: "Noisy (≥ 10 duplicates)", query: "status=open&status=acknowledged&duplicate_count%3E=10&sort=-duplicate_count" },
  { name: "All statuses", query: "status=" },
];

export function loadViews(): SavedView[] {
  try {
    const parsed: unknown = JSON.parse(localStorage.getItem(VIEWS_KEY) ?? "[]");
    if (!Array.isArray(parsed)) return [];
    return parsed.filter(
      (v): v is SavedView => typeof v?.name === "string" && typeof v?.query === "string",
    );
  } catch {
    return [];
  }
}

export function storeViews(views: SavedView[]): void {
  localStorage.setItem(VIEWS_KEY, JSON.stringify(views));
}
