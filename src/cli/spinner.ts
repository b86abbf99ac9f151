// Progress while waiting for an invocation: on stderr, and only when stderr is a terminal
// (a log file or a pipe must not fill up with carriage returns).
import type { Stream } from "./output.js";

const FRAMES = ["⠋", "⠙", "⠹", "⠸", "⠼", "⠴", "⠦", "⠧", "⠇", "⠏"];

export class Spinner {
  private timer: NodeJS.Timeout | undefined;
  private frame = 0;
  private text = "";
  private readonly started = Date.now();

  constructor(private readonly stream: Stream) {}

  get active(): boolean {
    return this.stream.isTTY === true;
  }

  update(text: string): void {
    this.text = text;
    if (!this.active) return;
    if (!this.timer) this.timer = setInterval(() => this.draw(), 100);
    this.draw();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    // Erase the line so what follows (logs, errors) starts clean.
    if (this.active) this.stream.write("\r\x1b[2K");
  }

  private draw(): void {
    const elapsed = ((Date.now() - this.started) / 1000).toFixed(1);
    this.frame = (this.frame + 1) % FRAMES.length;
    this.stream.write(`\r\x1b[2K${FRAMES[this.frame]} ${this.text} ${elapsed}s`);
  }
}
