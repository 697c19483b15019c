// Prints one plain closing line, "tests: N passed, N failed, N skipped", that
// CI reads to know how many tests ran. A test that never finished (its worker
// crashed), an unhandled error, and a file or suite that failed outside its
// tests (a beforeAll/afterAll hook; vitest then marks the tests skipped or
// passed) each count as failed, never as skipped.
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
      for (const s of [m, ...m.children.allSuites()]) {
        if (s.state() === "failed" && [...s.children.allTests("failed")].length === 0) failed++;
      }
    }
    process.stdout.write(`\ntests: ${passed} passed, ${failed} failed, ${skipped} skipped\n`);
  }
}
