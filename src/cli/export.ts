import type { CommandModule } from "yargs";

interface ExportArgs {
  checkpoint: string;
  output: string;
  dtype: "f32" | "bf16";
}

// `clipts export --checkpoint REF --output FILE [--dtype bf16]`: weights only,
// under open_clip's names, for open_clip or for sharing.
export const exportCommand: CommandModule<object, ExportArgs> = {
  command: "export",
  describe: "Write a checkpoint's weights (no optimizer state) as safetensors in float32 or bfloat16",
  builder: (y) =>
    y
      .option("checkpoint", { type: "string", demandOption: true, describe: "Checkpoint file, safetensors, .bin, open_clip folder or hf-hub:ORG/NAME" })
      .option("output", { type: "string", demandOption: true, describe: "Output .safetensors file" })
      .option("dtype", { choices: ["f32", "bf16"] as const, default: "f32" as const, describe: "Stored dtype of float tensors" }) as never,
  handler: async (args) => {
    const { exportWeights } = await import("../model/weights-file.js");
    const r = await exportWeights(args.checkpoint, args.output, args.dtype === "bf16" ? "BF16" : "F32");
    console.log(`clipts export: ${r.tensors} tensors (${args.dtype}) -> ${r.file}`);
  },
};
