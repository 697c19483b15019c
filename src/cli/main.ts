#!/usr/bin/env node
// The clipts command line: one subcommand per stage. Each command parses its
// arguments and calls a library function; no logic lives here.
import yargs from "yargs";
import { hideBin } from "yargs/helpers";
import { InputError } from "../util/errors.js";
import { curateCommand } from "./curate.js";
import { dataCommand } from "./data.js";
import { trainCommand } from "./train.js";
import { evalCommand } from "./eval.js";
import { ablateCommand } from "./ablate.js";
import { launchCommand } from "./launch.js";
import { doctorCommand } from "./doctor.js";
import { exportCommand } from "./export.js";

export async function main(argv: string[]): Promise<void> {
  await yargs(argv)
    .scriptName("clipts")
    .usage("$0 <stage> [options]\n\nCurate image-text data and train CLIP / SigLIP models.")
    .command(curateCommand)
    .command(dataCommand)
    .command(trainCommand)
    .command(evalCommand)
    .command(ablateCommand)
    .command(launchCommand)
    .command(doctorCommand)
    .command(exportCommand)
    .demandCommand(1, "Name a stage: curate, data, train, eval or ablate.")
    // yargs turns a number option given as text (--batch-rows abc) into NaN and runs on: refuse it.
    .check((argv) => {
      for (const [k, v] of Object.entries(argv)) {
        if (/[A-Z]/.test(k)) continue; // camelCase copies of the dashed names
        const bad = (x: unknown) => typeof x === "number" && !Number.isFinite(x);
        if (bad(v) || (Array.isArray(v) && v.some(bad))) throw new InputError(`--${k} must be a number`);
      }
      return true;
    }, true)
    .strict()
    .help()
    .alias("h", "help")
    .fail((msg, err) => {
      if (err) throw err;
      console.error(`${msg}\n\nRun with --help for usage.`);
      process.exit(2);
    })
    .parseAsync();
}

main(hideBin(process.argv)).catch((err: unknown) => {
  if (err instanceof InputError) {
    console.error(`clipts: ${err.message}`);
    process.exit(2);
  }
  console.error(err);
  process.exit(1);
});
