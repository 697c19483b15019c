// A streaming reader of tar archives: POSIX ustar members with pax ("x")
// and GNU long-name ("L") headers, as Python's tarfile (img2dataset), GNU
// tar and tar-stream write them. Each member comes out whole, in one Buffer
// of its own; a member over its size limit is skipped without being held.
//
// Why not tar-stream's extract: it makes a stream, its buffers and its
// promises for every member, and reading webdataset tars in place put that
// garbage on the loader's main thread (~0.1 ms per sample, most of it GC).
// Here a member costs one header parse and one copy out of large reads.
//
// A tar that ends inside a member, or a header that fails its checksum,
// throws TarReadError, saying which member was being read (null between
// members). Zero blocks (the end-of-archive marker) are passed over, so the
// archive ends where its data ends between members.

export interface TarMember {
  name: string;
  /** Regular files ("0", NUL, "7"); links, folders and devices are "other". */
  type: "file" | "other";
  size: number;
  /** Where its bytes start in the tar (a byte offset). */
  offset: number;
  /** The member's bytes; null for other types and for files over the limit. */
  data: Buffer | null;
}

export class TarReadError extends Error {
  constructor(
    message: string,
    /** The member being read when the tar ended or broke; null between members. */
    readonly member: string | null,
  ) {
    super(message);
  }
}

const BLOCK = 512;

/** Pulls exact byte counts out of a stream of chunks. */
class Chunks {
  private chunk: Buffer<ArrayBufferLike> = Buffer.alloc(0);
  private pos = 0;
  /** Bytes taken so far: the stream position of the next one. */
  taken = 0;
  constructor(private readonly it: AsyncIterator<Buffer>) {}

  /** Copy the next n bytes into out (or skip them when out is null); returns how many there were (< n only at the end). */
  async take(out: Buffer | null, n: number): Promise<number> {
    let done = 0;
    while (done < n) {
      if (this.pos === this.chunk.length) {
        const r = await this.it.next();
        if (r.done) return done;
        this.chunk = r.value;
        this.pos = 0;
        continue;
      }
      const k = Math.min(n - done, this.chunk.length - this.pos);
      if (out) this.chunk.copy(out, done, this.pos, this.pos + k);
      this.pos += k;
      this.taken += k;
      done += k;
    }
    return done;
  }
}

function cString(b: Buffer, start: number, end: number): string {
  const nul = b.indexOf(0, start);
  return b.toString("utf8", start, nul >= 0 && nul < end ? nul : end);
}

/** A numeric header field: octal ASCII, or GNU's base-256 (high bit set) for large values. */
function numberField(b: Buffer, start: number, end: number): number {
  if (b[start]! & 0x80) {
    let v = b[start]! & 0x7f;
    for (let i = start + 1; i < end; i++) v = v * 256 + b[i]!;
    return v;
  }
  const s = cString(b, start, end).trim();
  return s === "" ? 0 : parseInt(s, 8);
}

/** Whether the header's checksum field matches its bytes (summed unsigned or, as old tars did, signed). */
function checksumOk(h: Buffer): boolean {
  const want = numberField(h, 148, 156);
  let unsigned = 8 * 32, signed = 8 * 32; // the checksum field counts as spaces
  for (let i = 0; i < BLOCK; i++) {
    if (i >= 148 && i < 156) continue;
    unsigned += h[i]!;
    signed += (h[i]! << 24) >> 24;
  }
  return want === unsigned || want === signed;
}

/** "path" and "size" of a pax extended header's records ("LEN key=value\n"). */
function paxRecords(data: Buffer): { path?: string; size?: number } {
  const out: { path?: string; size?: number } = {};
  let i = 0;
  while (i < data.length) {
    const sp = data.indexOf(0x20, i);
    if (sp < 0) break;
    const len = parseInt(data.toString("ascii", i, sp), 10);
    if (!(len > 0) || i + len > data.length) break;
    const record = data.toString("utf8", sp + 1, i + len - 1); // without the trailing newline
    const eq = record.indexOf("=");
    const key = record.slice(0, eq), value = record.slice(eq + 1);
    if (key === "path") out.path = value;
    else if (key === "size" && /^\d+$/.test(value)) out.size = Number(value);
    i += len;
  }
  return out;
}

/**
 * The members of a tar read from `chunks`, in order. `limit(name)` is the
 * largest member kept (bytes); larger ones are skipped (data null).
 * `allocate(size)` gives each kept member's buffer.
 */
export async function* tarMembers(
  chunks: AsyncIterable<Buffer>, limit: (name: string) => number, allocate: (size: number) => Buffer = Buffer.allocUnsafe,
): AsyncGenerator<TarMember> {
  const state = { member: null as string | null };
  try {
    yield* members(new Chunks(chunks[Symbol.asyncIterator]()), limit, allocate, state);
  } catch (err) {
    // A failed read (a pipe: command that exits non-zero) says where it left the tar too.
    throw err instanceof TarReadError ? err : new TarReadError((err as Error).message, state.member);
  }
}

async function* members(
  input: Chunks, limit: (name: string) => number, allocate: (size: number) => Buffer, state: { member: string | null },
): AsyncGenerator<TarMember> {
  const header = Buffer.alloc(BLOCK);
  let longName: string | undefined; // from a GNU "L" or a pax "path" record, for the next member
  let paxSize: number | undefined;
  for (;;) {
    const got = await input.take(header, BLOCK);
    if (got === 0) return; // data ended between members
    if (got < BLOCK) throw new TarReadError(`tar ended inside a header (${got} of ${BLOCK} bytes)`, null);
    if (header.every((b) => b === 0)) continue; // end-of-archive blocks (and a record's padding)
    if (!checksumOk(header)) throw new TarReadError("invalid tar header (checksum mismatch): not a tar, or a damaged one", null);
    const typeflag = String.fromCharCode(header[156]!);
    let name = cString(header, 0, 100);
    const magic = header.toString("latin1", 257, 263);
    if (magic === "ustar\0") {
      const prefix = cString(header, 345, 500); // POSIX only (GNU's "ustar  " uses those bytes otherwise)
      if (prefix) name = `${prefix}/${name}`;
    }
    let size = numberField(header, 124, 136);
    if (typeflag === "x" || typeflag === "g" || typeflag === "L" || typeflag === "K") {
      // Metadata for the next member (or, "g", for all: nothing here uses it).
      const data = Buffer.allocUnsafe(size);
      if ((await input.take(data, size)) < size) throw new TarReadError("tar ended inside an extended header", null);
      await input.take(null, (BLOCK - (size % BLOCK)) % BLOCK);
      if (typeflag === "x") {
        const pax = paxRecords(data);
        if (pax.path !== undefined) longName = pax.path;
        if (pax.size !== undefined) paxSize = pax.size;
      } else if (typeflag === "L") longName = cString(data, 0, data.length);
      continue;
    }
    if (longName !== undefined) name = longName;
    if (paxSize !== undefined) size = paxSize;
    longName = paxSize = undefined;
    // Old tars mark a folder by a trailing slash alone.
    const file = (typeflag === "0" || typeflag === "\0" || typeflag === "7") && !name.endsWith("/");
    const keep = file && size <= limit(name);
    const data = keep ? allocate(size) : null;
    const offset = input.taken;
    state.member = name;
    if ((await input.take(data, size)) < size) throw new TarReadError("tar ended inside a member", name);
    state.member = null;
    // The padding to the next block may be missing at the very end of a tar cut there; that is no loss.
    await input.take(null, (BLOCK - (size % BLOCK)) % BLOCK);
    yield { name, type: file ? "file" : "other", size, offset, data };
  }
}
