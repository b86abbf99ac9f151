// The `function` label: a function id only where the operator asked for it
// (METRICS_PER_FUNCTION), and never more than METRICS_MAX_FUNCTIONS distinct ids per process.
// Every series costs memory in the process and in Prometheus, and function ids are created by
// API callers: without a cap, they would choose how many series a worker keeps.

/** The label value shared by every function past the cap. */
export const OTHER_FUNCTIONS = "other";

export interface FunctionLabelOptions {
  /** false: metrics carry no `function` label at all. */
  perFunction: boolean;
  /** The first this many distinct ids keep their own label; later ones are `other`. */
  maxFunctions: number;
}

export class FunctionLabel {
  private readonly named = new Set<string>();

  constructor(private readonly options: FunctionLabelOptions) {}

  /** Whether metrics carry a `function` label. */
  get enabled(): boolean {
    return this.options.perFunction;
  }

  /**
   * The label value of `functionId`: the id itself while it is one of the first
   * `maxFunctions` seen by this process, else `other`. The choice sticks for the life of
   * the process, so a function's series never moves between its id and `other`.
   */
  of(functionId: string): string {
    if (this.named.has(functionId)) return functionId;
    if (this.named.size >= this.options.maxFunctions) return OTHER_FUNCTIONS;
    this.named.add(functionId);
    return functionId;
  }

  /** `{ function: … }` when the label is on, else nothing: spread into a metric's labels. */
  labels(functionId: string): { function?: string } {
    return this.options.perFunction ? { function: this.of(functionId) } : {};
  }
}
