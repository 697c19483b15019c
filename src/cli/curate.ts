import type { CommandModule } from "yargs";

// Filled in by the issue that builds this stage.
export const curateCommand: CommandModule = {
  command: "curate",
  describe: "Curate a raw pool: MetaCLIP metadata, matching and balancing; DFN filtering",
  builder: (y) => y.demandCommand(1, "Name a curate subcommand (see --help)."),
  handler: () => {},
};
