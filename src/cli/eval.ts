import type { CommandModule } from "yargs";

// Filled in by the issue that builds this stage.
export const evalCommand: CommandModule = {
  command: "eval",
  describe: "Zero-shot classification and retrieval evaluation",
  builder: (y) => y.demandCommand(1, "Name a eval subcommand (see --help)."),
  handler: () => {},
};
