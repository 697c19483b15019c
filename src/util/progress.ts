// One progress bar for all long work: count, rate and ETA on stderr.
import cliProgress from "cli-progress";

export interface Progress {
  /** Advance by n units (default 1) and optionally update the shown fields. */
  increment(n?: number, fields?: Record<string, string | number>): void;
  /** Set the absolute position. */
  update(value: number, fields?: Record<string, string | number>): void;
  stop(): void;
}

export interface ProgressOptions {
  /** Unit shown after the rate, e.g. "texts" or "img". */
  unit?: string;
  /** Extra `{name}` fields shown after the bar, e.g. ["loss"]. */
  fields?: string[];
  /** Start value (for resumed work). */
  start?: number;
  /** Silence the bar (tests, --quiet). Also off when CLIPTS_QUIET=1. */
  quiet?: boolean;
}

const silent: Progress = { increment() {}, update() {}, stop() {} };

export function progress(label: string, total: number, opts: ProgressOptions = {}): Progress {
  if (opts.quiet || process.env.CLIPTS_QUIET === "1" || process.env.VITEST) return silent;
  const unit = opts.unit ?? "it";
  const extra = (opts.fields ?? []).map((f) => ` ${f} {${f}}`).join("");
  const bar = new cliProgress.SingleBar(
    {
      format: `${label} [{bar}] {value}/{total} {percentage}% | {rate} ${unit}/s | ETA {eta_formatted}${extra}`,
      stream: process.stderr,
      hideCursor: false,
      noTTYOutput: true,
      notTTYSchedule: 10_000,
      etaBuffer: 50,
      barsize: 24,
    },
    cliProgress.Presets.shades_classic,
  );
  const t0 = Date.now();
  const startValue = opts.start ?? 0;
  let value = startValue;
  const blank = Object.fromEntries((opts.fields ?? []).map((f) => [f, "-"]));
  const rate = () => {
    const s = (Date.now() - t0) / 1000;
    return s > 0 ? ((value - startValue) / s).toFixed(1) : "0";
  };
  bar.start(total, startValue, { ...blank, rate: "0" });
  return {
    increment(n = 1, fields = {}) {
      value += n;
      bar.update(value, { ...fields, rate: rate() });
    },
    update(v, fields = {}) {
      value = v;
      bar.update(value, { ...fields, rate: rate() });
    },
    stop() {
      bar.stop();
    },
  };
}
