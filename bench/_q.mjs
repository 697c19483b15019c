const { ingest } = await import("../dist/data/ingest.js");
const t0 = performance.now();
const r = await ingest({ input: "/tmp/ingest-prof/small", output: "/tmp/ingest-prof/out", rowsPerShard: 1000, quiet: true, concurrency: Number(process.argv[2] ?? 4), decode: process.argv[3] !== "nodecode" });
console.log(r.manifest.rows, ((performance.now() - t0) / r.manifest.rows * 1000).toFixed(0), "us/img");
