import type { CommandModule } from "yargs";

// `clipts doctor [--json]`: the environment report of src/doctor.ts; exits 1
// when something the README's set-up promises is missing.
export const doctorCommand: CommandModule<object, { json: boolean }> = {
  command: "doctor",
  describe: "Check the set-up before a long run: backends, libtorch, BLAS speed, threads, CUDA, image addon, tokenizer",
  builder: (y) => y.option("json", { type: "boolean", default: false, describe: "Print the report as JSON" }) as never,
  handler: async (args) => {
    const { doctor, formatDoctor } = await import("../doctor.js");
    const report = await doctor();
    console.log(args.json ? JSON.stringify(report, null, 2) : formatDoctor(report));
    process.exitCode = report.ok ? 0 : 1;
  },
};
