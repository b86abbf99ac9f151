// The API key field of the header. The key is kept in this browser only (localStorage) and
// sent with every GraphQL request and WebSocket connection; the server keeps only its hash.
import { type FormEvent, useEffect, useId, useState } from "react";
import { saveApiKey, useApiKey } from "./api-key";

export function ApiKeyForm() {
  const apiKey = useApiKey();
  const [draft, setDraft] = useState(apiKey);
  const inputId = useId();
  const stateId = useId();
  // Another tab may change the key.
  useEffect(() => setDraft(apiKey), [apiKey]);

  const save = (event: FormEvent) => {
    event.preventDefault();
    saveApiKey(draft);
  };
  const forget = () => {
    setDraft("");
    saveApiKey("");
  };
  return (
    <form className="api-key" onSubmit={save} aria-label="API key settings">
      <label htmlFor={inputId}>API key</label>
      <input
        id={inputId}
        type="password"
        value={draft}
        onChange={(e) => setDraft(e.target.value)}
        placeholder="faas_…"
        autoComplete="off"
        spellCheck={false}
        aria-describedby={stateId}
      />
      <button type="submit" disabled={draft.trim() === apiKey}>
        Save key
      </button>
      {apiKey !== "" && (
        <button type="button" onClick={forget}>
          Forget key
        </button>
      )}
      <span id={stateId} className="hint" role="status">
        {apiKey === "" ? "No key: only a server without keys answers." : "Key saved in this browser."}
      </span>
    </form>
  );
}
