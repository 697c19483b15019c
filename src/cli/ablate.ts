// `clipts ablate --config FILE`: run every data variant of an ablation config
// with the same model, hyperparameters, samples seen and seeds; print the table.
import type { CommandModule } from "yargs";
import { tableMarkdown } from "../ablation/report.js";

interface AblateArgs {
  config: string;
  output?: string;
  quiet?: boolean;
}

export const ablateCommand: CommandModule<object, AblateArgs> = {
  command: "ablate",
  describe: "Run data variants with fixed hyperparameters and tabulate the results",
  builder: (y) =>
    y
      .option("config", { type: "string", demandOption: true, describe: "Ablation config (YAML), e.g. configs/ablations/metaclip-table.yaml" })
      .option("output", { type: "string", describe: "Output folder (default: the config's output, else runs/ablations/<name>)" })
      .option("quiet", { type: "boolean", default: false, describe: "No progress bars or log lines" }),
  handler: async (a) => {
    const { runAblation } = await import("../ablation/run.js"); // loads tfjs and the model
    const r = await runAblation(a.config, { outDir: a.output, quiet: a.quiet });
    console.log(tableMarkdown(r.rows, r.metrics));
    console.log(`ablate: ${r.ran.length} run(s) trained, ${r.skipped.length} skipped; table ${r.files.markdown}, ${r.files.csv}; report ${r.files.html}`);
  },
};
