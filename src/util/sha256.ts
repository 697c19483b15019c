// The sha256 of a file, streamed (any size): the identity of shards,
// checkpoints and metadata files, recorded where one stage hands a file to the next.
import { createHash } from "node:crypto";
import { createReadStream } from "node:fs";

export async function sha256File(file: string): Promise<string> {
  const h = createHash("sha256");
  for await (const chunk of createReadStream(file)) h.update(chunk as Buffer);
  return h.digest("hex");
}

