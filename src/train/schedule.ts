// Learning-rate schedules with open_clip's semantics (training/scheduler.py):
// the schedule is evaluated with the 0-based step index *before* the optimizer
// step, warmup is linear lr*(step+1)/warmup, and cosine decays from the end of
// warmup to 0 at `steps`.

export interface ScheduleOptions {
  kind: "cosine" | "const" | "const-cooldown";
  baseLr: number;
  warmup: number;
  steps: number;
  cooldownSteps?: number;
  cooldownPower?: number;
  cooldownEndLr?: number;
}

export function lrAt(step: number, o: ScheduleOptions): number {
  if (step < o.warmup) return (o.baseLr * (step + 1)) / o.warmup;
  switch (o.kind) {
    case "const":
      return o.baseLr;
    case "cosine": {
      const e = step - o.warmup;
      const es = o.steps - o.warmup;
      return 0.5 * (1 + Math.cos((Math.PI * e) / es)) * o.baseLr;
    }
    case "const-cooldown": {
      const start = o.steps - (o.cooldownSteps ?? 0);
      if (step < start) return o.baseLr;
      const endLr = o.cooldownEndLr ?? 0;
      const decay = (1 - (step - start) / (o.steps - start)) ** (o.cooldownPower ?? 1);
      return decay * (o.baseLr - endLr) + endLr;
    }
  }
}
