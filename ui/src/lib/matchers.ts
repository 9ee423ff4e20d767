// Matchers as text, as Alertmanager writes them: service="web",severity=~"crit.*" (ops = != =~ !~).
import type { Matcher } from "../api/types";

const ONE = /^\s*([A-Za-z_][\w.]*)\s*(=~|!~|!=|=)\s*(?:"((?:[^"\\]|\\.)*)"|([^,"]*?))\s*(?:,|$)/;

/** The matchers of `text`, or an error naming the first part that is not one. */
export function parseMatchers(text: string): { matchers: Matcher[] } | { error: string } {
  const matchers: Matcher[] = [];
  let rest = text.trim().replace(/^\{|\}$/g, "").trim();
  while (rest) {
    const m = ONE.exec(rest);
    if (!m) return { error: `not a matcher: ${rest.split(",")[0]} (write name="value", name=~"regex", != or !~)` };
    const value = m[3] !== undefined ? m[3].replace(/\\(.)/g, "$1") : (m[4] ?? "").trim();
    matchers.push({ name: m[1], op: m[2] as Matcher["op"], value });
    rest = rest.slice(m[0].length).trim();
  }
  return matchers.length ? { matchers } : { error: "at least one matcher is needed" };
}

export function formatMatchers(matchers: Matcher[]): string {
  return matchers.map((m) => `${m.name}${m.op}"${m.value.replace(/(["\\])/g, "\\$1")}"`).join(", ");
}
