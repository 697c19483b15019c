import type { CommandModule } from "yargs";

// Filled in by the issue that builds this stage.
export const ablateCommand: CommandModule = {
  command: "ablate",
  describe: "Run data variants with fixed hyperparameters and tabulate the results",
  builder: (y) => y.demandCommand(1, "Name a ablate subcommand (see --help)."),
  handler: () => {},
};
