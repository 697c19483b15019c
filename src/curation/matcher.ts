// MetaCLIP substring matching with one Aho–Corasick automaton over all
// metadata entries.
//
// Semantics (MetaCLIP's `spacing` + substring test): the text is padded with a
// space on each side, each of , . ; : ? ! ` gets a space on each side, and tab,
// newline and carriage return become spaces. Entry e matches when " e " occurs
// in that string (case-sensitive, overlaps count). We match the patterns " e "
// directly, so word boundaries come for free, and we apply the spacing on the
// fly instead of building the spaced string.
//
// Layout: flat typed arrays, no object per state. The trie is built from the
// patterns in sorted order, so each new pattern only extends the path of the
// previous one (longest common prefix) and children of a state are created in
// ascending character order; edges are then stored CSR-style (edgeStart,
// edgeKey, edgeTarget). States with many children (near the root) also get a
// dense row indexed by a compact character class. Fail links are computed
// breadth-first; outputs follow dictionary-suffix links.

/** Characters that MetaCLIP wraps in spaces. */
const PUNCT = ",.;:?!`";
/** Characters that MetaCLIP turns into a space. */
const TO_SPACE = "\t\n\r";
const SPACE = 32;

// 0 = ordinary, 1 = wrap in spaces, 2 = becomes a space (ASCII only).
const KIND = new Uint8Array(128);
for (const ch of PUNCT) KIND[ch.charCodeAt(0)] = 1;
for (const ch of TO_SPACE) KIND[ch.charCodeAt(0)] = 2;

/** MetaCLIP's spacing of a caption, as a string (reference and tests). */
export function spaceText(text: string): string {
  let s = ` ${text} `;
  for (const p of PUNCT) s = s.split(p).join(` ${p} `);
  for (const c of TO_SPACE) s = s.split(c).join(" ");
  return s;
}

export interface Matcher {
  /** Number of metadata entries. */
  readonly size: number;
  /** Number of automaton states. */
  readonly states: number;
  /** Bytes held by the automaton's typed arrays. */
  readonly bytes: number;
  /** Ascending unique ids of the entries that match the text. */
  match(text: string): Uint32Array;
}

const DENSE_MIN_DEGREE = 12;
const DENSE_BUDGET = 16 * 1024 * 1024; // int32 cells across all dense rows (64 MB)

class AhoCorasick implements Matcher {
  readonly size: number;
  readonly states: number;
  readonly bytes: number;
  private readonly edgeStart: Int32Array;
  private readonly edgeKey: Uint16Array;
  private readonly edgeTarget: Int32Array;
  private readonly fail: Int32Array;
  /** First state on the output chain: the state itself if terminal, else its dictionary link. */
  private readonly outState: Int32Array;
  /** Dictionary-suffix link: nearest proper suffix state that is terminal (-1: none). */
  private readonly dictLink: Int32Array;
  /** Pattern ids ending at a terminal state: head per state, then a linked list. */
  private readonly patHead: Int32Array;
  private readonly patNext: Int32Array;
  /** Compact class per UTF-16 code unit; 0 = the unit occurs in no pattern. */
  private readonly charClass: Uint16Array;
  private readonly denseRow: Int32Array;
  private readonly dense: Int32Array;
  private readonly classes: number;
  private readonly stamp: Uint32Array;
  private epoch = 0;
  private buf = new Uint32Array(64);

  constructor(entries: readonly string[]) {
    const n = entries.length;
    this.size = n;
    const patterns = new Array<string>(n);
    let total = 1;
    for (let i = 0; i < n; i++) {
      patterns[i] = ` ${entries[i]} `;
      total += patterns[i]!.length;
    }
    const order = Array.from({ length: n }, (_, i) => i);
    order.sort((a, b) => {
      const pa = patterns[a]!, pb = patterns[b]!;
      return pa < pb ? -1 : pa > pb ? 1 : a - b;
    });

    // 1. Trie from sorted patterns: parent and incoming character per state.
    let parent = new Int32Array(total);
    let chr = new Uint16Array(total);
    const patState = new Int32Array(n);
    let count = 1; // state 0 is the root
    let path = new Int32Array(64);
    let prev = "";
    for (const id of order) {
      const p = patterns[id]!;
      if (p.length + 1 > path.length) {
        const grown = new Int32Array(Math.max(p.length + 1, path.length * 2));
        grown.set(path);
        path = grown;
      }
      let lcp = 0;
      const m = Math.min(p.length, prev.length);
      while (lcp < m && p.charCodeAt(lcp) === prev.charCodeAt(lcp)) lcp++;
      let s = path[lcp]!;
      for (let d = lcp; d < p.length; d++) {
        parent[count] = s;
        chr[count] = p.charCodeAt(d);
        s = count++;
        path[d + 1] = s;
      }
      patState[id] = s;
      prev = p;
    }
    parent = parent.slice(0, count);
    chr = chr.slice(0, count);
    this.states = count;

    // 2. CSR edges; creation order gives ascending keys per state.
    const edgeStart = new Int32Array(count + 1);
    for (let v = 1; v < count; v++) edgeStart[parent[v]! + 1]!++;
    for (let s = 0; s < count; s++) edgeStart[s + 1]! += edgeStart[s]!;
    const fill = edgeStart.slice(0, count);
    const edgeKey = new Uint16Array(Math.max(1, count - 1));
    const edgeTarget = new Int32Array(Math.max(1, count - 1));
    for (let v = 1; v < count; v++) {
      const e = fill[parent[v]!]!++;
      edgeKey[e] = chr[v]!;
      edgeTarget[e] = v;
    }
    this.edgeStart = edgeStart;
    this.edgeKey = edgeKey;
    this.edgeTarget = edgeTarget;

    // 3. Character classes and dense rows for high-degree states.
    const charClass = new Uint16Array(65536);
    let classes = 1;
    for (let v = 1; v < count; v++) {
      const c = chr[v]!;
      if (charClass[c] === 0) charClass[c] = classes++;
    }
    this.charClass = charClass;
    this.classes = classes;
    const denseRow = new Int32Array(count).fill(-1);
    const big: number[] = [];
    for (let s = 0; s < count; s++) if (edgeStart[s + 1]! - edgeStart[s]! >= DENSE_MIN_DEGREE) big.push(s);
    big.sort((a, b) => (edgeStart[b + 1]! - edgeStart[b]!) - (edgeStart[a + 1]! - edgeStart[a]!));
    const rows = Math.min(big.length, Math.floor(DENSE_BUDGET / classes));
    const dense = new Int32Array(rows * classes).fill(-1);
    for (let r = 0; r < rows; r++) {
      const s = big[r]!;
      denseRow[s] = r * classes;
      for (let e = edgeStart[s]!; e < edgeStart[s + 1]!; e++) dense[r * classes + charClass[edgeKey[e]!]!] = edgeTarget[e]!;
    }
    this.denseRow = denseRow;
    this.dense = dense;

    // 4. Pattern lists per terminal state (duplicate entries share a state).
    const patHead = new Int32Array(count).fill(-1);
    const patNext = new Int32Array(n).fill(-1);
    for (let id = n - 1; id >= 0; id--) {
      const s = patState[id]!;
      patNext[id] = patHead[s]!;
      patHead[s] = id;
    }
    this.patHead = patHead;
    this.patNext = patNext;

    // 5. Fail and dictionary links, breadth first.
    const fail = new Int32Array(count);
    const dictLink = new Int32Array(count).fill(-1);
    const outState = new Int32Array(count).fill(-1);
    const queue = new Int32Array(count);
    let qh = 0, qt = 0;
    queue[qt++] = 0;
    while (qh < qt) {
      const u = queue[qh++]!;
      for (let e = edgeStart[u]!; e < edgeStart[u + 1]!; e++) {
        const v = edgeTarget[e]!, c = edgeKey[e]!;
        let f = 0;
        if (u !== 0) {
          let w = fail[u]!;
          for (;;) {
            const t = this.child(w, c);
            if (t >= 0) { f = t; break; }
            if (w === 0) break;
            w = fail[w]!;
          }
        }
        fail[v] = f;
        dictLink[v] = patHead[f]! >= 0 ? f : dictLink[f]!;
        outState[v] = patHead[v]! >= 0 ? v : dictLink[v]!;
        queue[qt++] = v;
      }
    }
    this.fail = fail;
    this.dictLink = dictLink;
    this.outState = outState;
    this.stamp = new Uint32Array(n);
    this.bytes = [edgeStart, edgeKey, edgeTarget, fail, dictLink, outState, patHead, patNext, charClass, denseRow, dense, this.stamp]
      .reduce((a, x) => a + x.byteLength, 0);
  }

  /** Child of state s on code unit c, or -1. */
  private child(s: number, c: number): number {
    const r = this.denseRow[s]!;
    if (r >= 0) {
      const k = this.charClass[c]!;
      return k === 0 ? -1 : this.dense[r + k]!;
    }
    const keys = this.edgeKey;
    let lo = this.edgeStart[s]!, hi = this.edgeStart[s + 1]!;
    if (hi - lo <= 8) {
      for (; lo < hi; lo++) {
        const k = keys[lo]!;
        if (k === c) return this.edgeTarget[lo]!;
        if (k > c) return -1;
      }
      return -1;
    }
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      const k = keys[mid]!;
      if (k === c) return this.edgeTarget[mid]!;
      if (k < c) lo = mid + 1;
      else hi = mid;
    }
    return -1;
  }

  /** Next state from s on code unit c (follows fail links). */
  private step(s: number, c: number): number {
    if (this.charClass[c] === 0) return 0; // no pattern contains c
    for (;;) {
      const t = this.child(s, c);
      if (t >= 0) return t;
      if (s === 0) return 0;
      s = this.fail[s]!;
    }
  }

  /** Record every pattern ending at state s (once per text). */
  private emit(s: number, found: number): number {
    const { stamp, epoch, patHead, patNext, dictLink } = this;
    for (let o = this.outState[s]!; o >= 0; o = dictLink[o]!) {
      for (let id = patHead[o]!; id >= 0; id = patNext[id]!) {
        if (stamp[id] === epoch) continue;
        stamp[id] = epoch;
        if (found === this.buf.length) {
          const grown = new Uint32Array(found * 2);
          grown.set(this.buf);
          this.buf = grown;
        }
        this.buf[found++] = id;
      }
    }
    return found;
  }

  match(text: string): Uint32Array {
    if (++this.epoch === 0xffffffff) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    const outState = this.outState;
    let found = 0;
    let s = this.step(0, SPACE);
    const len = text.length;
    for (let i = 0; i < len; i++) {
      let c = text.charCodeAt(i);
      const kind = c < 128 ? KIND[c]! : 0;
      if (kind === 0) {
        s = this.step(s, c);
        if (c === SPACE && outState[s]! >= 0) found = this.emit(s, found);
        continue;
      }
      if (kind === 2) c = SPACE;
      else {
        // Wrapped punctuation: " " then the mark; the trailing space follows below.
        s = this.step(s, SPACE);
        if (outState[s]! >= 0) found = this.emit(s, found);
        s = this.step(s, c);
        c = SPACE;
      }
      s = this.step(s, c);
      if (outState[s]! >= 0) found = this.emit(s, found);
    }
    s = this.step(s, SPACE);
    if (outState[s]! >= 0) found = this.emit(s, found);
    // Only a space can end a pattern (" e "), so outputs are checked on spaces only.
    const out = this.buf.slice(0, found);
    return out.sort();
  }
}

/** Build the automaton over all entries (ids are indices into `entries`). */
export function buildMatcher(entries: readonly string[]): Matcher {
  return new AhoCorasick(entries);
}
