// Silences: the list with each one's status now (pending, active, expired), a form to create one
// (matchers as Alertmanager text, a duration, a comment) and Expire, both for operators only.
import { useState } from "react";
import type { SilenceList } from "../../api/types";
import { post, url } from "../../api/client";
import { dateTime } from "../../lib/format";
import { formatMatchers, parseMatchers } from "../../lib/matchers";
import { navigate, useLocation } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import { useSubmit } from "../../lib/useSubmit";
import { useSession } from "../../session";

const POLL_MS = 5000;
const DURATIONS = [
  ["1 hour", 3600],
  ["4 hours", 14400],
  ["1 day", 86400],
  ["1 week", 604800],
] as const;

export default function Silences() {
  const { can } = useSession();
  const { search } = useLocation();
  const status = search.get("status") ?? "";
  const { data, error, reload } = usePoll<SilenceList>(url("/api/v1/silences", { status, limit: 500 }), POLL_MS);
  const [message, setMessage] = useState<{ ok: boolean; text: string } | null>(null);
  const write = can("write:suppressions");

  const expire = async (id: string) => {
    setMessage(null);
    try {
      await post(`/api/v1/silences/${encodeURIComponent(id)}/expire?wait=10`, {});
      setMessage({ ok: true, text: `${id} expired` });
    } catch (err) {
      setMessage({ ok: false, text: err instanceof Error ? err.message : String(err) });
    }
    reload();
  };

  return (
    <div className="page">
      {write && <SilenceForm onDone={(text) => (setMessage({ ok: true, text }), reload())} />}
      <div className="list-bar">
        <select
          value={status}
          aria-label="Filter by status"
          onChange={(e) => navigate(`/silences${e.target.value ? `?status=${e.target.value}` : ""}`, { replace: true })}
        >
          <option value="">any status</option>
          <option value="active">active</option>
          <option value="pending">pending</option>
          <option value="expired">expired</option>
        </select>
        <span className="count" data-testid="silence-count">
          {data ? `${data.total} silences` : ""}
        </span>
        {error && <span className="error">{error.message}</span>}
        {message && (
          <span className={message.ok ? "ok" : "error"} role="status">
            {message.text}
          </span>
        )}
      </div>
      <div className="table-wrap">
        {data && data.silences.length === 0 && <p className="empty">No silence.</p>}
        {data && data.silences.length > 0 && (
          <table className="grid silences" aria-label="Silences">
            <thead>
              <tr>
                <th>Status</th>
                <th>Matchers</th>
                <th>Comment</th>
                <th>From</th>
                <th>Until</th>
                <th>By</th>
                <th>Id</th>
                {write && <th />}
              </tr>
            </thead>
            <tbody>
              {data.silences.map((s) => (
                <tr key={s.silence_id} data-silence-id={s.silence_id}>
                  <td>
                    <span className={`status st-${s.status}`}>{s.status}</span>
                  </td>
                  <td className="mono small">{formatMatchers(s.matchers)}</td>
                  <td>{s.comment}</td>
                  <td title={s.starts_at}>{dateTime(s.starts_at)}</td>
                  <td title={s.ends_at}>{dateTime(s.expired_at ?? s.ends_at)}</td>
                  <td>{s.created_by}</td>
                  <td className="mono small">{s.silence_id}</td>
                  {write && (
                    <td>
                      {s.status !== "expired" && (
                        <button onClick={() => void expire(s.silence_id)} data-action="expire">
                          Expire
                        </button>
                      )}
                    </td>
                  )}
                </tr>
              ))}
            </tbody>
          </table>
        )}
      </div>
    </div>
  );
}

function SilenceForm({ onDone }: { onDone: (text: string) => void }) {
  const { search } = useLocation();
  const [matchers, setMatchers] = useState(search.get("matchers") ?? "");
  const [seconds, setSeconds] = useState<number>(3600);
  const [comment, setComment] = useState("");
  const { busy, error, run, fail } = useSubmit();

  const submit = () => {
    const parsed = parseMatchers(matchers);
    if ("error" in parsed) return fail(`matchers: ${parsed.error}`);
    return run(async () => {
      const now = Date.now();
      const body = {
        matchers: parsed.matchers,
        starts_at: new Date(now).toISOString(),
        ends_at: new Date(now + seconds * 1000).toISOString(),
        comment: comment.trim(),
      };
      const answer = await post<{ id: string }>("/api/v1/silences?wait=10", body);
      setMatchers("");
      setComment("");
      onDone(`Silence ${answer.id} created`);
    });
  };

  return (
    <form
      className="filter-bar create-form"
      aria-label="New silence"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="row-bar">
        <input
          className="grow mono"
          placeholder='Matchers: service="web",severity=~"crit.*"'
          aria-label="Matchers"
          value={matchers}
          onChange={(e) => setMatchers(e.target.value)}
        />
        <select value={seconds} onChange={(e) => setSeconds(Number(e.target.value))} aria-label="Duration">
          {DURATIONS.map(([text, s]) => (
            <option key={s} value={s}>
              for {text}
            </option>
          ))}
        </select>
        <input placeholder="Comment (why)" aria-label="Silence comment" value={comment} onChange={(e) => setComment(e.target.value)} />
        <button type="submit" disabled={busy || !matchers.trim()}>
          Create silence
        </button>
      </div>
      {error && (
        <p className="error" role="alert" data-testid="form-error">
          {error}
        </p>
      )}
    </form>
  );
}
