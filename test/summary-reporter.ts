// Prints one plain closing line, "tests: N passed, N failed, N skipped", that
// CI reads to know how many tests ran. A test that never finished (its worker
// crashed) and an unhandled error each count as failed, never as skipped.
import type { Reporter, TestModule } from "vitest/node";

export default class SummaryReporter implements Reporter {
  onTestRunEnd(modules: ReadonlyArray<TestModule>, unhandledErrors: ReadonlyArray<unknown> = []): void {
    let passed = 0, failed = unhandledErrors.length, skipped = 0;
    for (const m of modules) {
      for (const t of m.children.allTests()) {
        const s = t.result().state;
        if (s === "passed") passed++;
        else if (s === "skipped") skipped++;
        else failed++; // "failed", or "pending": it never finished
      }
      if (m.state() === "failed" && [...m.children.allTests()].length === 0) failed++;
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
