export { InputError } from "./errors.js";
export { writeFileAtomic, writeJsonAtomic, AtomicWriter } from "./atomic.js";
export { hashUniform, Rng } from "./hash.js";
export { lineChart, barChart } from "./plot.js";
export type { Series, LineChartOptions, BarChartOptions } from "./plot.js";
