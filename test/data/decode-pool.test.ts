// DecodePool's message handling: jobs travel several to a message with the
// pool's own copies of the bytes transferred, never the caller's memory.
import { describe, it, expect } from "vitest";
import { DecodePool } from "../../src/image/decode-worker-pool.js";
import { DEFAULT_TRANSFORM } from "../../src/image/transforms.js";
import { makeImage } from "./fixtures.js";

describe("DecodePool", () => {
  it("decodes views of a caller's Buffer without detaching or changing it", async () => {
    const a = await makeImage("jpeg", 160, 120, 1), b = await makeImage("png", 120, 160, 2);
    // One file buffer holding both images, as a reader of concatenated records
    // has (large enough not to come from Node's shared Buffer pool).
    const file = Buffer.concat([a, b]);
    const before = Buffer.from(file);
    const pool = new DecodePool({ ...DEFAULT_TRANSFORM, mode: "eval", size: 16 }, 1);
    try {
      // Asked in the same tick: both travel in one message.
      const [ra, rb] = await Promise.all([pool.decode(file.subarray(0, a.length), 1), pool.decode(file.subarray(a.length), 2)]);
      expect(ra.ok && rb.ok).toBe(true);
      if (ra.ok) expect(ra.rgb.length).toBe(16 * 16 * 3);
      expect(file.buffer.byteLength).toBeGreaterThan(0);
      expect(file.equals(before)).toBe(true);
      // A whole-buffer Uint8Array of the caller's is cloned, not taken either.
      const own = new Uint8Array(a);
      const rc = await pool.decode(own, 3);
      expect(rc.ok).toBe(true);
      expect(own.byteLength).toBe(a.length);
    } finally {
      await pool.close();
    }
  });
});
