// The progress bar of long puts, gets and demo phases, drawn on stderr so stdout stays clean
// for data and JSON. On a terminal one line is redrawn in place (at most every REDRAW_MS); on a
// pipe or file a plain line is printed at each quarter (or every PLAIN_INTERVAL_MS when the
// total is unknown), so logs stay short.
import { formatBar, formatBytes, formatDuration, formatRate } from './format.js';

const REDRAW_MS = 100;
const PLAIN_INTERVAL_MS = 5000;
const PLAIN_STEP_FRACTION = 0.25;
const BAR_CELLS = 20;
/** Below this the rate and ETA are noise. */
const RATE_WARMUP_MS = 200;

export interface ProgressStream {
  write(text: string): unknown;
  isTTY?: boolean;
  columns?: number;
}

export interface ProgressBarOptions {
  label: string;
  stream: ProgressStream;
  totalBytes?: number;
  /** Draw nothing until the work has run this long, so quick commands stay quiet. Default 0. */
  delayMs?: number;
  /** Injected clock for tests; defaults to performance.now(). */
  nowMs?: () => number;
}

export class ProgressBar {
  private readonly label: string;
  private readonly stream: ProgressStream;
  private readonly nowMs: () => number;
  private readonly startMs: number;
  private readonly interactive: boolean;
  private readonly delayMs: number;
  private totalBytes: number | undefined;
  private doneBytes = 0;
  private lastDrawMs = -Infinity;
  private plainStepsPrinted = 0;
  private finished = false;

  constructor(options: ProgressBarOptions) {
    this.label = options.label;
    this.stream = options.stream;
    this.totalBytes = options.totalBytes;
    this.nowMs = options.nowMs ?? (() => performance.now());
    this.startMs = this.nowMs();
    this.interactive = options.stream.isTTY === true;
    this.delayMs = options.delayMs ?? 0;
  }

  /** Whether anything has been drawn; a delayed bar of quick work never is. */
  get drawn(): boolean {
    return this.lastDrawMs !== -Infinity;
  }

  update(doneBytes: number, totalBytes?: number): void {
    if (this.finished) return;
    this.doneBytes = doneBytes;
    if (totalBytes !== undefined) this.totalBytes = totalBytes;
    const now = this.nowMs();
    if (now - this.startMs < this.delayMs) return;
    if (this.interactive) {
      if (now - this.lastDrawMs < REDRAW_MS) return;
      this.lastDrawMs = now;
      this.stream.write(`\r${this.fit(this.line(now))}\x1b[K`);
    } else if (this.plainLineDue(now)) {
      this.lastDrawMs = now;
      this.stream.write(`${this.line(now)}\n`);
    }
  }

  /** Draws the final state (100% and the average rate) and ends the line. */
  finish(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.totalBytes === undefined) this.totalBytes = this.doneBytes;
    if (!this.drawn && this.nowMs() - this.startMs < this.delayMs) return;
    const line = this.line(this.nowMs());
    this.stream.write(this.interactive ? `\r${this.fit(line)}\x1b[K\n` : `${line}\n`);
  }

  /** Ends an interrupted bar on its own line, so an error message does not follow it. */
  abandon(): void {
    if (this.finished) return;
    this.finished = true;
    if (this.interactive && this.drawn) this.stream.write('\n');
  }

  private plainLineDue(now: number): boolean {
    if (this.totalBytes === undefined || this.totalBytes === 0) return now - this.lastDrawMs >= PLAIN_INTERVAL_MS;
    const steps = Math.floor(this.doneBytes / this.totalBytes / PLAIN_STEP_FRACTION);
    if (steps <= this.plainStepsPrinted || this.doneBytes >= this.totalBytes) return false;
    this.plainStepsPrinted = steps;
    return true;
  }

  /** "put big.bin  42% [########............]  420 MiB / 1000 MiB  312.4 MiB/s  ETA 2.0s" */
  line(now: number): string {
    const elapsedMs = now - this.startMs;
    const rate = elapsedMs > 0 ? (this.doneBytes * 1000) / elapsedMs : 0;
    const parts = [this.label];
    if (this.totalBytes !== undefined) {
      const fraction = this.totalBytes === 0 ? 1 : this.doneBytes / this.totalBytes;
      parts.push(`${Math.floor(fraction * 100).toString().padStart(3)}% ${formatBar(fraction, BAR_CELLS)}`);
      parts.push(`${formatBytes(this.doneBytes)} / ${formatBytes(this.totalBytes)}`);
    } else {
      parts.push(formatBytes(this.doneBytes));
    }
    if (elapsedMs >= RATE_WARMUP_MS || this.finished) parts.push(formatRate(rate));
    parts.push(this.finished ? `in ${formatDuration(elapsedMs)}` : this.eta(rate, elapsedMs));
    return parts.filter((part) => part !== '').join('  ');
  }

  private eta(rate: number, elapsedMs: number): string {
    if (this.totalBytes === undefined || elapsedMs < RATE_WARMUP_MS || rate <= 0) return '';
    return `ETA ${formatDuration(((this.totalBytes - this.doneBytes) / rate) * 1000)}`;
  }

  /** Keeps a redrawn line within the terminal width, or it would wrap and stop redrawing. */
  private fit(line: string): string {
    const columns = this.stream.columns;
    return columns !== undefined && columns > 1 && line.length >= columns ? line.slice(0, columns - 1) : line;
  }
}
