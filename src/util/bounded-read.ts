// Bounded reads of user-named paths. A path where a file is expected may name
// a device (/dev/zero never ends), a FIFO (blocks forever) or a file far larger
// than the caller can hold; every such read goes through here: regular files
// only, size checked before any byte is read, errors naming the path.
import { closeSync, constants, fstatSync, openSync, promises as fs, readSync } from "node:fs";
import { InputError } from "./errors.js";

/** Why a bounded read refused a path; `kind` is fixed text for skip counts, `detail` varies. */
export class BoundedReadError extends InputError {
  constructor(
    readonly file: string,
    readonly what: string,
    readonly kind: "not found" | "unreadable" | "not a regular file" | "too large" | "grew while read",
    readonly detail: string,
  ) {
    const says = kind === "not found" || kind === "unreadable" ? `cannot read ${what}` : kind === "not a regular file" ? `${what} must be a regular file` : `${what} ${kind}`;
    super(`${file}: ${says} (${detail})`);
  }
}

function openError(file: string, what: string, err: unknown): BoundedReadError {
  const code = (err as NodeJS.ErrnoException).code;
  return code === "ENOENT" ? new BoundedReadError(file, what, "not found", "ENOENT") : new BoundedReadError(file, what, "unreadable", code ?? String(err));
}

function kindOf(st: import("node:fs").Stats): string {
  if (st.isDirectory()) return "a folder";
  if (st.isFIFO()) return "a FIFO";
  if (st.isCharacterDevice()) return "a character device";
  if (st.isBlockDevice()) return "a block device";
  if (st.isSocket()) return "a socket";
  return "not a regular file";
}

/**
 * Read a whole regular file of at most `maxBytes` bytes. Throws InputError
 * naming the path (and `what`, e.g. "image") when it is missing, not a
 * regular file, or larger than the limit. Opened non-blocking so a FIFO
 * cannot stall the open; size re-checked while reading (a file growing after
 * the check is cut off at the limit and refused).
 */
export async function readFileBounded(file: string, maxBytes: number, what = "file"): Promise<Buffer> {
  let h: fs.FileHandle;
  try {
    h = await fs.open(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw openError(file, what, err);
  }
  try {
    const st = await h.stat();
    if (!st.isFile()) throw new BoundedReadError(file, what, "not a regular file", kindOf(st));
    if (st.size > maxBytes) throw new BoundedReadError(file, what, "too large", `${st.size} bytes > max ${maxBytes}`);
    // One byte more than the stat size tells whether the file grew since.
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await h.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > maxBytes || n > st.size) throw new BoundedReadError(file, what, "grew while read", `over ${Math.min(maxBytes, st.size)} bytes`);
    return buf.subarray(0, n);
  } finally {
    await h.close();
  }
}

/** Synchronous readFileBounded, for small control files (a `latest` pointer) read in sync code. */
export function readFileBoundedSync(file: string, maxBytes: number, what = "file"): Buffer {
  let fd: number;
  try {
    fd = openSync(file, constants.O_RDONLY | constants.O_NONBLOCK);
  } catch (err) {
    throw openError(file, what, err);
  }
  try {
    const st = fstatSync(fd);
    if (!st.isFile()) throw new BoundedReadError(file, what, "not a regular file", kindOf(st));
    if (st.size > maxBytes) throw new BoundedReadError(file, what, "too large", `${st.size} bytes > max ${maxBytes}`);
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      const got = readSync(fd, buf, n, buf.length - n, n);
      if (got === 0) break;
      n += got;
      if (n === buf.length) break;
    }
    if (n > maxBytes || n > st.size) throw new BoundedReadError(file, what, "grew while read", `over ${Math.min(maxBytes, st.size)} bytes`);
    return buf.subarray(0, n);
  } finally {
    closeSync(fd);
  }
}

/** readFileBounded decoded as UTF-8. */
export async function readTextBounded(file: string, maxBytes: number, what = "file"): Promise<string> {
  return (await readFileBounded(file, maxBytes, what)).toString("utf8");
}

/**
 * Check that `file` is a regular file of at most `maxBytes` (for readers that
 * stream it themselves); returns its size. Throws InputError naming the path.
 */
export async function checkRegularFile(file: string, maxBytes = Number.MAX_SAFE_INTEGER, what = "file"): Promise<number> {
  let st: import("node:fs").Stats;
  try {
    st = await fs.stat(file);
  } catch (err) {
    throw openError(file, what, err);
  }
  if (!st.isFile()) throw new BoundedReadError(file, what, "not a regular file", kindOf(st));
  if (st.size > maxBytes) throw new BoundedReadError(file, what, "too large", `${st.size} bytes > max ${maxBytes}`);
  return st.size;
}

/** Size limits of small control files (manifests, markers, `latest` pointers, configs). */
export const MAX_POINTER_BYTES = 4096;
export const MAX_JSON_BYTES = 1 << 30;
