import type { CommandModule } from "yargs";
import { launch } from "../train/distributed-launch.js";

interface LaunchArgs {
  "nproc-per-node": number;
  "master-addr": string;
  "master-port": number;
  _: (string | number)[];
  "--"?: string[];
}

// `clipts launch --nproc-per-node N [--master-addr A] [--master-port P] -- train --config FILE`
// Same environment as `torchrun --no-python --nproc-per-node N clipts train ...`.
export const launchCommand: CommandModule<object, LaunchArgs> = {
  command: "launch",
  describe: "Run a clipts command in N processes on this machine (data-parallel training, like torchrun)",
  builder: (y) =>
    y
      .parserConfiguration({ "populate--": true, "unknown-options-as-args": true })
      .strict(false)
      .option("nproc-per-node", { type: "number", demandOption: true, describe: "Processes (ranks) to start" })
      .option("master-addr", { type: "string", default: "127.0.0.1", describe: "Rendezvous address (MASTER_ADDR)" })
      .option("master-port", { type: "number", default: 0, describe: "Rendezvous port (MASTER_PORT); 0 picks a free one" }) as never,
  handler: async (args) => {
    // Everything after "--" (or after the launch options) is the clipts command each rank runs.
    const rest = [...(args["--"] ?? []), ...args._.slice(1)].map(String);
    process.exitCode = await launch({
      nprocPerNode: args["nproc-per-node"],
      masterAddr: args["master-addr"],
      masterPort: args["master-port"],
      args: rest,
    });
  },
};
