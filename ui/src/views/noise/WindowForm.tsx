// The maintenance window form: a new window, or the edit of one (`PATCH`, the parts it changes).
// Scope by asset ids, business services and matchers; a one-off interval in the browser's zone, or a
// daily or weekly rule ("HH:MM-HH:MM" in an IANA zone, an end before the start running into the next
// day). A monthly rule, made through the API, is kept as it is when its window is edited here.
import { useState } from "react";
import { api, post } from "../../api/client";
import type { MaintenanceWindow, Matcher } from "../../api/types";
import { formatMatchers, parseMatchers } from "../../lib/matchers";
import { useSubmit } from "../../lib/useSubmit";

const DAYS = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"];
type Kind = "once" | "daily" | "weekly" | "monthly";

/** A datetime-local input's value for `ms` (the browser's zone). */
function local(ms: number): string {
  const d = new Date(ms - new Date(ms).getTimezoneOffset() * 60_000);
  return d.toISOString().slice(0, 16);
}

const list = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

const browserZone = () => Intl.DateTimeFormat().resolvedOptions().timeZone || "UTC";

/** The form's starting values: empty for a new window, the window's own for an edit. */
function initial(w?: MaintenanceWindow) {
  const s = w?.schedule ?? {};
  const scope = (w?.scope ?? {}) as { asset_ids?: string[]; business_services?: string[]; matchers?: Matcher[] };
  const [from, to] = typeof s.hours === "string" ? s.hours.split("-") : ["02:00", "04:00"];
  return {
    title: w?.title ?? "",
    assets: (scope.asset_ids ?? []).join(", "),
    services: (scope.business_services ?? []).join(", "),
    matchers: formatMatchers(scope.matchers ?? []),
    kind: ((s.frequency as Kind | undefined) ?? "once") as Kind,
    start: local(typeof s.start === "string" ? Date.parse(s.start) : Date.now()),
    end: local(typeof s.end === "string" ? Date.parse(s.end) : Date.now() + 3_600_000),
    from,
    to,
    timezone: typeof s.timezone === "string" ? s.timezone : browserZone(),
    weekdays: Array.isArray(s.weekdays) ? (s.weekdays as string[]) : ["sun"],
    mode: w?.mode ?? "suppress",
  };
}

export default function WindowForm({ editing, onDone, onClose }: { editing?: MaintenanceWindow; onDone: (text: string) => void; onClose?: () => void }) {
  const [f, setF] = useState(() => initial(editing));
  const { busy, error, run, fail } = useSubmit();
  const set = <K extends keyof typeof f>(key: K, value: (typeof f)[K]) => setF((old) => ({ ...old, [key]: value }));
  const toggleDay = (day: string) => set("weekdays", f.weekdays.includes(day) ? f.weekdays.filter((d) => d !== day) : [...f.weekdays, day]);

  const schedule = (): Record<string, unknown> | undefined => {
    if (f.kind === "once") return { start: new Date(f.start).toISOString(), end: new Date(f.end).toISOString() };
    if (f.kind === "monthly") return undefined; // kept as it is
    const rule: Record<string, unknown> = { frequency: f.kind, hours: `${f.from}-${f.to}`, timezone: f.timezone.trim() };
    if (f.kind === "weekly") rule.weekdays = DAYS.filter((d) => f.weekdays.includes(d));
    return rule;
  };

  const submit = () => {
    let parsed: Matcher[] = [];
    if (f.matchers.trim()) {
      const m = parseMatchers(f.matchers);
      if ("error" in m) return fail(`scope.matchers: ${m.error}`);
      parsed = m.matchers;
    }
    return run(async () => {
      const scope = { ...(editing?.scope ?? {}), asset_ids: list(f.assets), business_services: list(f.services), matchers: parsed };
      const body = { title: f.title.trim(), mode: f.mode, scope, schedule: schedule() };
      if (editing) {
        const path = `/api/v1/maintenance-windows/${encodeURIComponent(editing.window_id)}?wait=10`;
        await api(path, { method: "PATCH", body });
        onDone(`Maintenance window ${editing.window_id} changed`);
      } else {
        const answer = await post<{ id: string }>("/api/v1/maintenance-windows?wait=10", body);
        setF(initial());
        onDone(`Maintenance window ${answer.id} created`);
      }
    });
  };

  return (
    <form
      className="filter-bar create-form"
      aria-label={editing ? "Edit maintenance window" : "New maintenance window"}
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      {editing && (
        <strong>
          Edit <span className="mono">{editing.window_id}</span>
        </strong>
      )}
      <div className="row-bar">
        <input placeholder="Title" aria-label="Window title" value={f.title} onChange={(e) => set("title", e.target.value)} />
        <input placeholder="Asset ids, comma-separated" aria-label="Asset ids" value={f.assets} onChange={(e) => set("assets", e.target.value)} />
        <input placeholder="Business services" aria-label="Business services" value={f.services} onChange={(e) => set("services", e.target.value)} />
        <input className="grow mono" placeholder='Matchers: source="nms"' aria-label="Window matchers" value={f.matchers} onChange={(e) => set("matchers", e.target.value)} />
      </div>
      <div className="row-bar">
        <select value={f.kind} onChange={(e) => set("kind", e.target.value as Kind)} aria-label="Repeat">
          <option value="once">once</option>
          <option value="daily">every day</option>
          <option value="weekly">every week</option>
          {f.kind === "monthly" && <option value="monthly">monthly (kept as it is)</option>}
        </select>
        {f.kind === "once" && (
          <>
            <label>
              From <input type="datetime-local" value={f.start} onChange={(e) => set("start", e.target.value)} aria-label="Start" />
            </label>
            <label>
              until <input type="datetime-local" value={f.end} onChange={(e) => set("end", e.target.value)} aria-label="End" />
            </label>
          </>
        )}
        {(f.kind === "daily" || f.kind === "weekly") && (
          <>
            <label>
              From <input type="time" value={f.from} onChange={(e) => set("from", e.target.value)} aria-label="Daily start" />
            </label>
            <label>
              until <input type="time" value={f.to} onChange={(e) => set("to", e.target.value)} aria-label="Daily end" />
            </label>
            <input placeholder="Time zone, e.g. Europe/Berlin" value={f.timezone} onChange={(e) => set("timezone", e.target.value)} aria-label="Time zone" size={16} />
          </>
        )}
        {f.kind === "weekly" && (
          <span className="days" role="group" aria-label="Weekdays">
            {DAYS.map((d) => (
              <label key={d}>
                <input type="checkbox" checked={f.weekdays.includes(d)} onChange={() => toggleDay(d)} aria-label={d} /> {d}
              </label>
            ))}
          </span>
        )}
        <select value={f.mode} onChange={(e) => set("mode", e.target.value)} aria-label="Mode">
          <option value="suppress">suppress (keep, mark muted)</option>
          <option value="drop">drop (never notify, hide from the alert list)</option>
        </select>
        <button type="submit" className="primary" disabled={busy || !f.title.trim()}>
          {editing ? "Save window" : "Create window"}
        </button>
        {onClose && (
          <button type="button" onClick={onClose}>
            Close
          </button>
        )}
      </div>
      {error && (
        <p className="error" role="alert" data-testid="form-error">
          {error}
        </p>
      )}
    </form>
  );
}
