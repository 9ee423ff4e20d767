// "New ticket" on the board: a ticket without an alert (`POST /api/v1/tickets`): type, title,
// description, impact and urgency (the priority comes from them), assignment group (one of the
// configured ones; default: by routing) and the assets it concerns (linked). Once numbered, its page opens; a refusal shows the
// API's message naming the field.
import { useState } from "react";
import { post } from "../../api/client";
import type { TicketAnswer, TicketGroups } from "../../api/types";
import { navigate } from "../../lib/router";
import { usePoll } from "../../lib/usePoll";
import { useSubmit } from "../../lib/useSubmit";

const LEVELS = [
  ["1", "1 high"],
  ["2", "2 medium"],
  ["3", "3 low"],
] as const;

export const commaList = (text: string) =>
  text
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);

export default function NewTicket({ onClose }: { onClose: () => void }) {
  const [type, setType] = useState("incident");
  const [title, setTitle] = useState("");
  const [description, setDescription] = useState("");
  const [impact, setImpact] = useState("");
  const [urgency, setUrgency] = useState("3");
  const [group, setGroup] = useState("");
  const [assets, setAssets] = useState("");
  const groups = usePoll<TicketGroups>("/api/v1/tickets/groups", 0).data?.groups ?? [];
  const { busy, message, run } = useSubmit();

  const submit = () =>
    run(async () => {
      const body = {
        type,
        title: title.trim(),
        description: description.trim(),
        urgency: Number(urgency),
        impact: impact ? Number(impact) : undefined,
        group: group.trim() || undefined,
        links: commaList(assets).map((ref) => ({ kind: "asset", ref })),
      };
      const answer = await post<TicketAnswer>("/api/v1/tickets?wait=10", body);
      if (answer.number) navigate(`/tickets/${answer.number}`);
      else return `Ticket ${answer.ticket_id} sent, not numbered yet: it appears on the board shortly`;
    });

  return (
    <form
      className="filter-bar create-form card"
      aria-label="New ticket"
      onSubmit={(e) => {
        e.preventDefault();
        void submit();
      }}
    >
      <div className="row-bar">
        <select value={type} onChange={(e) => setType(e.target.value)} aria-label="Ticket type">
          <option value="incident">incident</option>
          <option value="problem">problem</option>
          <option value="change">change</option>
        </select>
        <input className="grow" placeholder="Title" aria-label="Ticket title" value={title} onChange={(e) => setTitle(e.target.value)} />
      </div>
      <textarea placeholder="Description" aria-label="Ticket description" rows={3} value={description} onChange={(e) => setDescription(e.target.value)} />
      <div className="row-bar">
        <label>
          Impact{" "}
          <select value={impact} onChange={(e) => setImpact(e.target.value)} aria-label="Impact">
            <option value="">from the business</option>
            {LEVELS.map(([v, text]) => (
              <option key={v} value={v}>
                {text}
              </option>
            ))}
          </select>
        </label>
        <label>
          Urgency{" "}
          <select value={urgency} onChange={(e) => setUrgency(e.target.value)} aria-label="Urgency">
            {LEVELS.map(([v, text]) => (
              <option key={v} value={v}>
                {text}
              </option>
            ))}
          </select>
        </label>
        <label>
          Group{" "}
          <select value={group} onChange={(e) => setGroup(e.target.value)} aria-label="Assignment group">
            <option value="">by routing</option>
            {groups.map((g) => (
              <option key={g} value={g}>
                {g}
              </option>
            ))}
          </select>
        </label>
        <input className="grow" placeholder="Asset ids, comma-separated" aria-label="Ticket assets" value={assets} onChange={(e) => setAssets(e.target.value)} />
        <button type="submit" className="primary" disabled={busy || !title.trim()}>
          Create ticket
        </button>
        <button type="button" onClick={onClose}>
          Cancel
        </button>
      </div>
      {message && (
        <p className={message.ok ? "ok" : "error"} role="status" data-testid="new-ticket-message">
          {message.text}
        </p>
      )}
    </form>
  );
}
