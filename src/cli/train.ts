import type { CommandModule } from "yargs";

// Filled in by the issue that builds this stage.
export const trainCommand: CommandModule = {
  command: "train",
  describe: "Train a CLIP or SigLIP model from a YAML config",
  builder: (y) => y.demandCommand(1, "Name a train subcommand (see --help)."),
  handler: () => {},
};
