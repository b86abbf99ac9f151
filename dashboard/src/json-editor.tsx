// A JSON text field that says, as you type, whether the text is JSON and where it is not.
import { useRef } from "react";
import type { JsonCheck } from "../../src/lib/json-check";

interface JsonEditorProps {
  id: string;
  label: string;
  value: string;
  check: JsonCheck;
  onChange(text: string): void;
}

export function JsonEditor({ id, label, value, check, onChange }: JsonEditorProps) {
  const area = useRef<HTMLTextAreaElement>(null);
  const messageId = `${id}-validity`;
  const goToError = () => {
    if (check.ok || !area.current) return;
    area.current.focus();
    area.current.setSelectionRange(check.offset, Math.min(check.offset + 1, value.length));
  };
  return (
    <div className="field">
      <label htmlFor={id}>{label}</label>
      <textarea
        id={id}
        ref={area}
        className="json-editor"
        value={value}
        onChange={(e) => onChange(e.target.value)}
        rows={8}
        spellCheck={false}
        autoCapitalize="off"
        autoCorrect="off"
        aria-invalid={!check.ok}
        aria-describedby={messageId}
      />
      <p id={messageId} className={check.ok ? "hint valid" : "invalid"} aria-live="polite" data-testid="json-validity">
        {check.ok ? (
          "Valid JSON."
        ) : (
          <>
            Invalid JSON at line {check.line}, column {check.column}: {check.message}.{" "}
            <button type="button" className="link-button" onClick={goToError}>
              Go to the error
            </button>
          </>
        )}
      </p>
    </div>
  );
}
