// Bounded reads of user-named paths. A path where a file is expected may name
// a device (/dev/zero never ends), a FIFO (blocks forever) or a file far larger
// than the caller can hold; every such read goes through here: regular files
// only, size checked before any byte is read, errors naming the path.
import { constants, promises as fs } from "node:fs";
import { InputError } from "./errors.js";

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
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: cannot read ${what} (${code === "ENOENT" ? "not found" : (code ?? String(err))})`);
  }
  try {
    const st = await h.stat();
    if (!st.isFile()) throw new InputError(`${file}: ${what} must be a regular file, got ${kindOf(st)}`);
    if (st.size > maxBytes) throw new InputError(`${file}: ${what} is ${st.size} bytes, over the limit of ${maxBytes}`);
    // One byte more than the stat size tells whether the file grew since.
    const buf = Buffer.allocUnsafe(Math.min(maxBytes, st.size) + 1);
    let n = 0;
    for (;;) {
      const { bytesRead } = await h.read(buf, n, buf.length - n, n);
      if (bytesRead === 0) break;
      n += bytesRead;
      if (n === buf.length) break;
    }
    if (n > maxBytes || n > st.size) throw new InputError(`${file}: ${what} grew while being read (over ${Math.min(maxBytes, st.size)} bytes)`);
    return buf.subarray(0, n);
  } finally {
    await h.close();
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
    const code = (err as NodeJS.ErrnoException).code;
    throw new InputError(`${file}: cannot read ${what} (${code === "ENOENT" ? "not found" : (code ?? String(err))})`);
  }
  if (!st.isFile()) throw new InputError(`${file}: ${what} must be a regular file, got ${kindOf(st)}`);
  if (st.size > maxBytes) throw new InputError(`${file}: ${what} is ${st.size} bytes, over the limit of ${maxBytes}`);
  return st.size;
}

/** Size limits of small control files (manifests, markers, `latest` pointers, configs). */
export const MAX_POINTER_BYTES = 4096;
export const MAX_JSON_BYTES = 1 << 30;
