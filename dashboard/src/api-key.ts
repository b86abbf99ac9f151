// The API key the dashboard sends: kept in this browser's localStorage, shared by every tab
// (the storage event tells the others), read through one small store.
import { useSyncExternalStore } from "react";

const STORAGE_KEY = "faas.dashboard.apiKey";
const CHANGED = "dashboard:api-key";

export function readApiKey(): string {
  try {
    return window.localStorage.getItem(STORAGE_KEY) ?? "";
  } catch {
    // Storage can be disabled (privacy settings): the page then works without a key.
    return "";
  }
}

export function saveApiKey(key: string): void {
  const trimmed = key.trim();
  try {
    if (trimmed === "") window.localStorage.removeItem(STORAGE_KEY);
    else window.localStorage.setItem(STORAGE_KEY, trimmed);
  } catch {
    // As above: nothing to keep it in.
  }
  window.dispatchEvent(new Event(CHANGED));
}

function subscribe(onChange: () => void): () => void {
  const onStorage = (event: StorageEvent) => {
    if (event.key === STORAGE_KEY || event.key === null) onChange();
  };
  window.addEventListener(CHANGED, onChange);
  window.addEventListener("storage", onStorage);
  return () => {
    window.removeEventListener(CHANGED, onChange);
    window.removeEventListener("storage", onStorage);
  };
}

export function useApiKey(): string {
  return useSyncExternalStore(subscribe, readApiKey);
}
