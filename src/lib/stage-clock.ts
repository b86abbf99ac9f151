// Where the time of one piece of work went, stage by stage (the worker's handling of an
// invocation, the API's invoke): exported as histograms, read by `make bench`.

/** Laps of one piece of work: `lap(stage)` records the time since the previous lap. */
export interface StageClock {
  (stage: string): void;
  readonly stages: Record<string, number>;
}

export function stageClock(now: () => number = () => performance.now()): StageClock {
  let last = now();
  const stages: Record<string, number> = {};
  const lap = (stage: string) => {
    const t = now();
    stages[stage] = (stages[stage] ?? 0) + (t - last);
    last = t;
  };
  return Object.assign(lap, { stages });
}

/** Histogram buckets of stages: from a fraction of a millisecond (a Redis ack) to a function's whole run. */
export const STAGE_BUCKETS_SECONDS = [0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5, 30, 300];
