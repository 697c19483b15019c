// Atomic file output: write to a temporary file beside the target, then rename.
// A crash leaves either the old file or the new one, never a half-written file.
// The data is fsynced before the rename and the folder after it, so a power
// loss cannot leave the new name pointing at blocks that were never written.
import { closeSync, createWriteStream, fsyncSync, openSync, promises as fs, renameSync, writeFileSync, mkdirSync, rmSync } from "node:fs";
import path from "node:path";
import { once } from "node:events";

function tempPath(target: string): string {
  return path.join(path.dirname(target), `.${path.basename(target)}.tmp-${process.pid}-${Date.now()}`);
}

/** fsync a folder so a rename or removal in it is durable (a no-op where folders cannot be opened). */
export async function fsyncDir(dir: string): Promise<void> {
  let h: fs.FileHandle | undefined;
  try {
    h = await fs.open(dir, "r");
    await h.sync();
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EACCES") throw err;
  } finally {
    await h?.close();
  }
}

function fsyncDirSync(dir: string): void {
  let fd: number | undefined;
  try {
    fd = openSync(dir, "r");
    fsyncSync(fd);
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code !== "EISDIR" && code !== "EPERM" && code !== "EINVAL" && code !== "EACCES") throw err;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** Write a whole file atomically (creates the parent folder). */
export async function writeFileAtomic(target: string, data: string | Uint8Array): Promise<void> {
  await fs.mkdir(path.dirname(target), { recursive: true });
  const tmp = tempPath(target);
  try {
    const h = await fs.open(tmp, "w");
    try {
      await h.writeFile(data);
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(tmp, target);
    await fsyncDir(path.dirname(target));
  } catch (err) {
    await fs.rm(tmp, { force: true });
    throw err;
  }
}

/** Synchronous variant, for signal handlers and small files. */
export function writeFileAtomicSync(target: string, data: string | Uint8Array): void {
  mkdirSync(path.dirname(target), { recursive: true });
  const tmp = tempPath(target);
  try {
    const fd = openSync(tmp, "w");
    try {
      writeFileSync(fd, data);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    renameSync(tmp, target);
    fsyncDirSync(path.dirname(target));
  } catch (err) {
    rmSync(tmp, { force: true });
    throw err;
  }
}

export async function writeJsonAtomic(target: string, value: unknown): Promise<void> {
  await writeFileAtomic(target, JSON.stringify(value, null, 2) + "\n");
}

/**
 * A streamed file that appears at `target` only when `commit()` is called.
 * `abort()` (or never committing) removes the temporary file.
 */
export class AtomicWriter {
  private readonly tmp: string;
  private readonly stream;
  constructor(readonly target: string) {
    mkdirSync(path.dirname(target), { recursive: true });
    this.tmp = tempPath(target);
    this.stream = createWriteStream(this.tmp);
  }
  /** Write a chunk, honouring back-pressure. */
  async write(chunk: string | Uint8Array): Promise<void> {
    if (!this.stream.write(chunk)) await once(this.stream, "drain");
  }
  async commit(): Promise<void> {
    this.stream.end();
    await once(this.stream, "close");
    const h = await fs.open(this.tmp, "r+");
    try {
      await h.sync();
    } finally {
      await h.close();
    }
    await fs.rename(this.tmp, this.target);
    await fsyncDir(path.dirname(this.target));
  }
  async abort(): Promise<void> {
    // The file may still be opening: wait until the stream has closed it, or
    // the open would create it again after the rm.
    // An error on the way (e.g. the open failed) is not the caller's concern
    // here: the temp file goes either way.
    const closed = this.stream.closed ? Promise.resolve() : once(this.stream, "close").catch(() => undefined);
    this.stream.destroy();
    try {
      await closed;
    } finally {
      await fs.rm(this.tmp, { force: true });
    }
  }
}
