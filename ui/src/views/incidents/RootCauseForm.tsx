// Confirm or correct an incident's root cause (`POST /api/v1/incidents/{id}/root-cause`, docs/rca.md):
// "Confirm" the asset named (the model's, else the topology root), or "Correct" it with another of the
// incident's assets (a member's or a candidate), with an optional comment. Waits for the read model so
// the feedback list shows it on refresh; a refusal shows the API's reason naming the field.
import { useState } from "react";
import { post } from "../../api/client";
import { useSubmit } from "../../lib/useSubmit";
import { useSession } from "../../session";

interface Answer {
  status: "accepted" | "applied";
  command_id: string;
}

export function RootCauseForm({ incidentId, named, choices, nameOf, onDone }: {
  incidentId: string;
  named: string | null;
  choices: string[];
  nameOf: (assetId: string) => string;
  onDone: () => void;
}) {
  const { me } = useSession();
  const others = choices.filter((a) => a !== named).sort((a, b) => nameOf(a).localeCompare(nameOf(b)));
  const [asset, setAsset] = useState("");
  const [comment, setComment] = useState("");
  const { busy, message, run } = useSubmit();

  const send = (verdict: "confirm" | "correct", assetId: string) =>
    run(async () => {
      const target = `/api/v1/incidents/${encodeURIComponent(incidentId)}/root-cause?wait=10`;
      const answer = await post<Answer>(target, { asset_id: assetId, verdict, comment: comment.trim() });
      const what = `${verdict === "confirm" ? "Confirmed" : "Corrected to"} ${nameOf(assetId)} as ${me.name}`;
      setComment("");
      setAsset("");
      onDone();
      return answer.status === "applied" ? what : `${what}: sent, listed shortly`;
    });

  return (
    <form
      className="filter-bar create-form"
      aria-label="Root cause feedback"
      data-testid="rca-form"
      onSubmit={(e) => {
        e.preventDefault();
        if (asset) void send("correct", asset);
      }}
    >
      <textarea
        placeholder="Comment (optional)"
        aria-label="Feedback comment"
        rows={2}
        value={comment}
        onChange={(e) => setComment(e.target.value)}
      />
      <div className="row-bar">
        {named && (
          <button type="button" disabled={busy} onClick={() => void send("confirm", named)}>
            Confirm {nameOf(named)}
          </button>
        )}
        <select value={asset} onChange={(e) => setAsset(e.target.value)} aria-label="Correct root cause asset">
          <option value="">another asset…</option>
          {others.map((a) => (
            <option key={a} value={a}>
              {nameOf(a)}
            </option>
          ))}
        </select>
        <button type="submit" className="primary" disabled={busy || !asset}>
          Correct
        </button>
      </div>
      {message && (
        <p className={message.ok ? "ok" : "error"} role="status" data-testid="rca-message">
          {message.text}
        </p>
      )}
    </form>
  );
}
