import type { CommandModule } from "yargs";

// Filled in by the issue that builds this stage.
export const dataCommand: CommandModule = {
  command: "data",
  describe: "Ingest image-text data into Arrow shards; build the demo dataset",
  builder: (y) => y.demandCommand(1, "Name a data subcommand (see --help)."),
  handler: () => {},
};
