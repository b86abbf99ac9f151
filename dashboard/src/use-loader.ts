// Loads data for a page: again when `load` changes (memoize it with useCallback on its
// inputs), on reload(), and every `everyMs` when given. A failed reload keeps the data shown.
import { useEffect, useRef, useState } from "react";
import { errorMessage } from "./format";

export interface Loaded<T> {
  data: T | undefined;
  error: string | null;
  loading: boolean;
  /** When the data shown was loaded. */
  loadedAt: Date | null;
  reload(): void;
}

export function useLoader<T>(load: (signal: AbortSignal) => Promise<T>, everyMs?: number): Loaded<T> {
  const [state, setState] = useState<Omit<Loaded<T>, "reload">>({
    data: undefined,
    error: null,
    loading: true,
    loadedAt: null,
  });
  const [generation, setGeneration] = useState(0);
  const reload = useRef(() => setGeneration((g) => g + 1)).current;

  // `generation` is how reload() asks for a new run.
  useEffect(() => {
    const abort = new AbortController();
    let timer: number | undefined;
    const run = async () => {
      setState((s) => ({ ...s, loading: true }));
      try {
        const data = await load(abort.signal);
        if (!abort.signal.aborted) setState({ data, error: null, loading: false, loadedAt: new Date() });
      } catch (err) {
        if (!abort.signal.aborted) setState((s) => ({ ...s, error: errorMessage(err), loading: false }));
      }
      // The next poll starts after this one ended: a slow server never gets overlapping requests.
      if (!abort.signal.aborted && everyMs !== undefined) timer = window.setTimeout(run, everyMs);
    };
    void run();
    return () => {
      abort.abort();
      window.clearTimeout(timer);
    };
  }, [load, everyMs, generation]);

  return { ...state, reload };
}
