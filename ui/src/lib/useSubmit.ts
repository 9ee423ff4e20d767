// A form's submit: busy while the request runs, then a message — the success text the action returns,
// or the API's reason for a refusal (its 4xx message, naming the field).
import { useCallback, useState } from "react";

export interface Message {
  ok: boolean;
  text: string;
}

/** What went wrong, as the user reads it (an `ApiError`'s message is the API's reason). */
export const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));

export interface Submit {
  busy: boolean;
  message: Message | null;
  /** The message's text when it is an error, else null. */
  error: string | null;
  /** Clear the message, run `action` busy; its returned text (if any) is the success message, what it
   * throws the error message. Resets and callbacks on success go in `action`, after the request. */
  run: (action: () => Promise<string | void>) => Promise<void>;
  /** Show an error without sending (a field the form checks itself). */
  fail: (text: string) => void;
}

export function useSubmit(): Submit {
  const [busy, setBusy] = useState(false);
  const [message, setMessage] = useState<Message | null>(null);
  const fail = useCallback((text: string) => setMessage({ ok: false, text }), []);
  const run = useCallback(async (action: () => Promise<string | void>) => {
    setBusy(true);
    setMessage(null);
    try {
      const text = await action();
      if (text) setMessage({ ok: true, text });
    } catch (err) {
      setMessage({ ok: false, text: errorText(err) });
    } finally {
      setBusy(false);
    }
  }, []);
  return { busy, message, error: message && !message.ok ? message.text : null, run, fail };
}
