// MetaCLIP substring matching with one Aho–Corasick automaton over all
// metadata entries.
//
// Semantics (MetaCLIP's `spacing` + substring test): the text is padded with a
// space on each side, each of , . ; : ? ! ` gets a space on each side, and tab,
// newline and carriage return become spaces. Entry e matches when " e " occurs
// in that spaced string S (case-sensitive, overlaps count).
//
// Because " e " starts and ends with a space, an occurrence always covers whole
// space-separated tokens of S: " e " occurs in S exactly when the tokens of e
// (e.split(" ")) occur as a contiguous run of S's inner tokens
// (S.split(" ") without its first and last element; empty tokens included,
// so "new  york" does not match "new york"). So the automaton runs over
// *words*, not characters: each token of the text is looked up once in a
// vocabulary hash table (tokens absent from every entry reset the automaton),
// and the automaton steps once per token. Entries with a wrapped punctuation
// mark inside a token (e.g. "st. louis") contain a token that S can never
// contain, so they never match, exactly as in MetaCLIP. The spacing is applied
// on the fly while tokenizing; no spaced string is built.
//
// Layout: flat typed arrays only. Vocabulary: open-addressing table of word ids
// with the words' UTF-16 units in one pool. Automaton: root transitions in a
// dense array by word id, other transitions in one open-addressing table keyed
// by (state, word); fail links breadth-first; outputs via dictionary-suffix links.

/** Characters that MetaCLIP wraps in spaces. */
const PUNCT = ",.;:?!`";
/** Characters that MetaCLIP turns into a space. */
const TO_SPACE = "\t\n\r";
const SPACE = 32;

// 0 = ordinary, 1 = wrap in spaces (a token of its own), 2 = separator (space, tab, LF, CR).
const KIND = new Uint8Array(128);
for (const ch of PUNCT) KIND[ch.charCodeAt(0)] = 1;
for (const ch of TO_SPACE + " ") KIND[ch.charCodeAt(0)] = 2;

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
  /** Number of distinct words in the entries. */
  readonly words: number;
  /** Bytes held by the automaton's typed arrays. */
  readonly bytes: number;
  /** Ascending unique ids of the entries that match the text. */
  match(text: string): Uint32Array;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
const FNV_PRIME = 16777619;

/** FNV-1a over UTF-16 units: the per-character step used while tokenizing. */
function hashWord(w: string): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < w.length; i++) h = Math.imul(h ^ w.charCodeAt(i), FNV_PRIME);
  return h;
}

/** Spread FNV's bits before masking to a table index. */
function slotOf(h: number, mask: number): number {
  h = Math.imul(h ^ (h >>> 16), 0x45d9f3b);
  return (h ^ (h >>> 13)) & mask;
}

function edgeSlot(s: number, w: number, mask: number): number {
  let h = Math.imul(s, 0x9e3779b1) ^ Math.imul(w + 0x7f4a7c15, 0x85ebca77);
  h ^= h >>> 15;
  h = Math.imul(h, 0x2c1b3c6d);
  return (h ^ (h >>> 12)) & mask;
}

function pow2AtLeast(n: number): number {
  let p = 16;
  while (p < n) p *= 2;
  return p;
}

class WordAhoCorasick implements Matcher {
  readonly size: number;
  readonly states: number;
  readonly words: number;
  readonly bytes: number;
  // Vocabulary
  private readonly vocabRec: Int32Array;
  private readonly vocabMask: number;
  private readonly pool: Uint16Array;
  // Automaton
  private readonly edges: Int32Array;
  private readonly edgeMask: number;
  /**
   * Per state [fail, dictionary link (-1 none), number of children, first entry
   * ending here (-1 none)]: one record per state so a step touches one cache
   * line; states without children skip the edge table.
   */
  private readonly link: Int32Array;
  private readonly patNext: Int32Array;
  // Per-text dedupe
  private readonly stamp: Uint32Array;
  private epoch = 0;
  private found = 0;
  private buf = new Uint32Array(64);

  constructor(entries: readonly string[]) {
    const n = entries.length;
    this.size = n;

    // 1. Vocabulary and trie (parent, word per state) in one pass.
    const ids = new Map<string, number>();
    const vocab: string[] = [];
    let cap = 1024;
    let parent = new Int32Array(cap), word = new Int32Array(cap);
    const patState = new Int32Array(n);
    const children = new Map<number, number>(); // temporary: key state * V' + word -> child
    let count = 1;
    // Keys must be unique per (state, word): word ids stay below 2^26 and states below 2^27 here.
    const KEY = 2 ** 26;
    for (let id = 0; id < n; id++) {
      const tokens = entries[id]!.split(" ");
      let s = 0;
      for (const tok of tokens) {
        let w = ids.get(tok);
        if (w === undefined) {
          w = vocab.length;
          ids.set(tok, w);
          vocab.push(tok);
        }
        const key = s * KEY + w;
        let t = children.get(key);
        if (t === undefined) {
          if (count === cap) {
            cap *= 2;
            const p2 = new Int32Array(cap), w2 = new Int32Array(cap);
            p2.set(parent);
            w2.set(word);
            parent = p2;
            word = w2;
          }
          t = count++;
          parent[t] = s;
          word[t] = w;
          children.set(key, t);
        }
        s = t;
      }
      patState[id] = s;
    }
    children.clear();
    ids.clear();
    if (vocab.length >= KEY || count >= 2 ** 27) throw new RangeError("metadata too large for the matcher's key space");
    this.states = count;
    this.words = vocab.length;

    // 2. Vocabulary table: one 4-int record per slot [hash, pool start, length + 1
    //    (0 = empty slot), child of the root]. A word's id in the automaton is its
    //    slot, so one cache line answers "which word is this and where does the
    //    root go on it".
    let poolLen = 0;
    for (const w of vocab) poolLen += w.length;
    const pool = new Uint16Array(poolLen);
    const vocabSize = pow2AtLeast(vocab.length * 2);
    const vocabMask = vocabSize - 1;
    const vocabRec = new Int32Array(vocabSize * 4);
    const slotOfWord = new Int32Array(vocab.length);
    let off = 0;
    vocab.forEach((w, i) => {
      const h = hashWord(w);
      let slot = slotOf(h, vocabMask);
      while (vocabRec[slot * 4 + 2] !== 0) slot = (slot + 1) & vocabMask;
      vocabRec[slot * 4] = h;
      vocabRec[slot * 4 + 1] = off;
      vocabRec[slot * 4 + 2] = w.length + 1;
      vocabRec[slot * 4 + 3] = -1;
      slotOfWord[i] = slot;
      for (let j = 0; j < w.length; j++) pool[off++] = w.charCodeAt(j);
    });
    for (let v = 1; v < count; v++) word[v] = slotOfWord[word[v]!]!;
    this.pool = pool;
    this.vocabRec = vocabRec;
    this.vocabMask = vocabMask;

    // 3. Transitions: the root's in the vocabulary records, the others in one
    //    open-addressing table of 4-int records [state, word, target, -].
    const edgeSize = pow2AtLeast(Math.ceil(count * 1.5));
    const edgeMask = edgeSize - 1;
    const edges = new Int32Array(edgeSize * 4).fill(-1);
    const degree = new Int32Array(count + 1);
    for (let v = 1; v < count; v++) {
      const p = parent[v]!, w = word[v]!;
      degree[p + 1]!++;
      if (p === 0) {
        vocabRec[w * 4 + 3] = v;
        continue;
      }
      let slot = edgeSlot(p, w, edgeMask);
      while (edges[slot * 4] !== -1) slot = (slot + 1) & edgeMask;
      edges[slot * 4] = p;
      edges[slot * 4 + 1] = w;
      edges[slot * 4 + 2] = v;
    }
    this.edges = edges;
    this.edgeMask = edgeMask;

    // 4. Pattern lists per terminal state (entries with the same tokens share a state).
    const patHead = new Int32Array(count).fill(-1);
    const patNext = new Int32Array(n).fill(-1);
    for (let id = n - 1; id >= 0; id--) {
      const s = patState[id]!;
      patNext[id] = patHead[s]!;
      patHead[s] = id;
    }
    this.patNext = patNext;

    // 5. Fail and dictionary links, breadth first over a CSR child list.
    for (let s = 0; s < count; s++) degree[s + 1]! += degree[s]!;
    const fill = degree.slice(0, count);
    const kids = new Int32Array(Math.max(1, count - 1));
    for (let v = 1; v < count; v++) kids[fill[parent[v]!]!++] = v;
    const fail = new Int32Array(count);
    const dictLink = new Int32Array(count).fill(-1);
    const queue = new Int32Array(count);
    let qh = 0, qt = 0;
    queue[qt++] = 0;
    while (qh < qt) {
      const u = queue[qh++]!;
      for (let e = degree[u]!; e < degree[u + 1]!; e++) {
        const v = kids[e]!, w = word[v]!;
        let f = 0;
        if (u !== 0) {
          let x = fail[u]!;
          for (;;) {
            const t = this.child(x, w);
            if (t >= 0) {
              f = t;
              break;
            }
            if (x === 0) break;
            x = fail[x]!;
          }
        }
        fail[v] = f;
        dictLink[v] = patHead[f]! >= 0 ? f : dictLink[f]!;
        queue[qt++] = v;
      }
    }
    const link = new Int32Array(count * 4);
    for (let v = 0; v < count; v++) {
      link[4 * v] = fail[v]!;
      link[4 * v + 1] = dictLink[v]!;
      link[4 * v + 2] = degree[v + 1]! - degree[v]!;
      link[4 * v + 3] = patHead[v]!;
    }
    this.link = link;
    this.stamp = new Uint32Array(n);
    this.bytes = [vocabRec, pool, edges, link, patNext, this.stamp].reduce((a, x) => a + x.byteLength, 0);
  }

  /** Child of state s on word w, or -1. */
  private child(s: number, w: number): number {
    if (s === 0) return this.vocabRec[w * 4 + 3]!;
    const { edges, edgeMask } = this;
    let slot = edgeSlot(s, w, edgeMask);
    for (;;) {
      const r = slot * 4;
      const es = edges[r]!;
      if (es === -1) return -1;
      if (es === s && edges[r + 1] === w) return edges[r + 2]!;
      slot = (slot + 1) & edgeMask;
    }
  }

  /** Word id of text[start, end) (hash h), or -1 when no entry has that word. */
  private lookup(text: string, start: number, end: number, h: number): number {
    const { vocabRec, vocabMask, pool } = this;
    const len1 = end - start + 1;
    let slot = slotOf(h, vocabMask);
    for (;;) {
      const r = slot * 4;
      const l1 = vocabRec[r + 2]!;
      if (l1 === 0) return -1;
      if (l1 === len1 && vocabRec[r] === h) {
        const off = vocabRec[r + 1]!;
        let j = 0;
        while (j < len1 - 1 && pool[off + j] === text.charCodeAt(start + j)) j++;
        if (j === len1 - 1) return slot;
      }
      slot = (slot + 1) & vocabMask;
    }
  }

  /** Feed one token (word id or -1) from state s; returns the new state and records outputs. */
  private feed(s: number, w: number): number {
    if (w < 0) return 0;
    const link = this.link;
    for (;;) {
      const t = s === 0 || link[4 * s + 2]! > 0 ? this.child(s, w) : -1;
      if (t >= 0) {
        s = t;
        break;
      }
      if (s === 0) return 0;
      s = link[4 * s]!;
    }
    const r = 4 * s;
    if (link[r + 3]! >= 0) this.emit(s);
    else if (link[r + 1]! >= 0) this.emit(link[r + 1]!);
    return s;
  }

  /** Record every entry on the output chain starting at terminal state o (once per text). */
  private emit(o: number): void {
    const { stamp, epoch, patNext, link } = this;
    for (; o >= 0; o = link[4 * o + 1]!) {
      for (let id = link[4 * o + 3]!; id >= 0; id = patNext[id]!) {
        if (stamp[id] === epoch) continue;
        stamp[id] = epoch;
        if (this.found === this.buf.length) {
          const grown = new Uint32Array(this.found * 2);
          grown.set(this.buf);
          this.buf = grown;
        }
        this.buf[this.found++] = id;
      }
    }
  }

  match(text: string): Uint32Array {
    if (++this.epoch === 0xffffffff) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    this.found = 0;
    let s = 0;
    let start = 0, h = FNV_OFFSET;
    const len = text.length;
    for (let i = 0; i < len; i++) {
      const c = text.charCodeAt(i);
      const kind = c < 128 ? KIND[c]! : 0;
      if (kind === 0) {
        h = Math.imul(h ^ c, FNV_PRIME);
        continue;
      }
      // The token before this separator or mark (possibly empty).
      s = this.feed(s, this.lookup(text, start, i, h));
      // A wrapped mark is a one-character token of its own.
      if (kind === 1) s = this.feed(s, this.lookup(text, i, i + 1, Math.imul(FNV_OFFSET ^ c, FNV_PRIME)));
      start = i + 1;
      h = FNV_OFFSET;
    }
    this.feed(s, this.lookup(text, start, len, h));
    // Insertion sort: a text matches few entries, and this beats TypedArray#sort's call overhead.
    const buf = this.buf, n = this.found;
    if (n > 32) return buf.slice(0, n).sort();
    for (let i = 1; i < n; i++) {
      const v = buf[i]!;
      let j = i - 1;
      while (j >= 0 && buf[j]! > v) {
        buf[j + 1] = buf[j]!;
        j--;
      }
      buf[j + 1] = v;
    }
    return buf.slice(0, n);
  }
}

/** Build the automaton over all entries (ids are indices into `entries`). */
export function buildMatcher(entries: readonly string[]): Matcher {
  return new WordAhoCorasick(entries);
}
