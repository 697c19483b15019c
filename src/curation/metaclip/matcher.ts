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
  /**
   * Ascending unique ids of the entries that match the text (a fresh array).
   * Uses per-matcher scratch buffers: build one matcher per worker thread.
   */
  match(text: string): Uint32Array;
}

const FNV_OFFSET = 0x811c9dc5 | 0;
/** Ints per vocabulary record. */
const V = 8;
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
   * Per state [fail, dictionary link (-1 none), children count * 2 + (1 if a
   * child of the root), first entry ending here (-1 none)]: one record per
   * state so a step touches one cache line; states without children skip the
   * edge table, and children of the root (fail = root) skip this record.
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

    // 1. Vocabulary and trie (parent, word per state) in one pass. Children are
    //    found through a temporary open-addressing table keyed by (state, word),
    //    sized from the token count (an upper bound on the number of states).
    let totalTokens = 1;
    for (const e of entries) {
      totalTokens++;
      for (let i = 0; i < e.length; i++) if (e.charCodeAt(i) === SPACE) totalTokens++;
    }
    const ids = new Map<string, number>();
    const vocab: string[] = [];
    const parent = new Int32Array(totalTokens), word = new Int32Array(totalTokens);
    const patState = new Int32Array(n);
    const tmpSize = pow2AtLeast(totalTokens * 2), tmpMask = tmpSize - 1;
    const tmp = new Int32Array(tmpSize * 2).fill(-1); // [state, child]; the child's word is word[child]
    let count = 1;
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
        let slot = edgeSlot(s, w, tmpMask);
        let t = -1;
        for (;;) {
          const st = tmp[2 * slot]!;
          if (st === -1) break;
          if (st === s && word[tmp[2 * slot + 1]!] === w) {
            t = tmp[2 * slot + 1]!;
            break;
          }
          slot = (slot + 1) & tmpMask;
        }
        if (t < 0) {
          t = count++;
          parent[t] = s;
          word[t] = w;
          tmp[2 * slot] = s;
          tmp[2 * slot + 1] = t;
        }
        s = t;
      }
      patState[id] = s;
    }
    ids.clear();
    this.states = count;
    this.words = vocab.length;

    // 2. Vocabulary table: one 8-int record per slot [hash, pool start,
    //    length + 1 (0 = empty slot), root child, first entry ending at that
    //    child, that child's children count * 2 + 1, -, -]. A word's id in the
    //    automaton is its slot, so for the common case (a word that starts an
    //    entry) one cache line answers "which word, where does the root go,
    //    what ends there".
    let poolLen = 0;
    for (const w of vocab) poolLen += w.length;
    const pool = new Uint16Array(poolLen);
    const vocabSize = pow2AtLeast(vocab.length * 2);
    const vocabMask = vocabSize - 1;
    const vocabRec = new Int32Array(vocabSize * V);
    const slotOfWord = new Int32Array(vocab.length);
    let off = 0;
    vocab.forEach((w, i) => {
      const h = hashWord(w);
      let slot = slotOf(h, vocabMask);
      while (vocabRec[slot * V + 2] !== 0) slot = (slot + 1) & vocabMask;
      const r = slot * V;
      vocabRec[r] = h;
      vocabRec[r + 1] = off;
      vocabRec[r + 2] = w.length + 1;
      vocabRec[r + 3] = -1;
      vocabRec[r + 4] = -1;
      slotOfWord[i] = slot;
      for (let j = 0; j < w.length; j++) pool[off++] = w.charCodeAt(j);
    });
    for (let v = 1; v < count; v++) word[v] = slotOfWord[word[v]!]!;
    this.pool = pool;
    this.vocabRec = vocabRec;
    this.vocabMask = vocabMask;

    // 3. Transitions: the root's in the vocabulary records, the others in one
    //    open-addressing table of 4-int records [state, word, target, target's
    //    children count * 2].
    const degree = new Int32Array(count + 1);
    for (let v = 1; v < count; v++) degree[parent[v]! + 1]!++;
    const edgeSize = pow2AtLeast(Math.ceil(count * 1.5));
    const edgeMask = edgeSize - 1;
    const edges = new Int32Array(edgeSize * 4).fill(-1);
    for (let v = 1; v < count; v++) {
      const p = parent[v]!, w = word[v]!;
      if (p === 0) {
        vocabRec[w * V + 3] = v;
        vocabRec[w * V + 5] = degree[v + 1]! * 2 + 1;
        continue;
      }
      let slot = edgeSlot(p, w, edgeMask);
      while (edges[slot * 4] !== -1) slot = (slot + 1) & edgeMask;
      edges[slot * 4] = p;
      edges[slot * 4 + 1] = w;
      edges[slot * 4 + 2] = v;
      edges[slot * 4 + 3] = degree[v + 1]! * 2;
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
    for (let v = 1; v < count; v++) if (parent[v] === 0) vocabRec[word[v]! * V + 4] = patHead[v]!;
    this.patNext = patNext;

    // 5. Fail and dictionary links, breadth first over a CSR child list.
    const nChildren = degree.slice(1);
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
      link[4 * v + 2] = nChildren[v]! * 2 + (parent[v] === 0 && v !== 0 ? 1 : 0);
      link[4 * v + 3] = patHead[v]!;
    }
    this.link = link;
    this.stamp = new Uint32Array(n);
    this.bytes = [vocabRec, pool, edges, link, patNext, this.stamp].reduce((a, x) => a + x.byteLength, 0);
  }

  /** Child of state s on word w, or -1. */
  private child(s: number, w: number): number {
    if (s === 0) return this.vocabRec[w * V + 3]!;
    const r = this.edgeRecord(s, w);
    return r < 0 ? -1 : this.edges[r + 2]!;
  }

  /** Word id of text[start, end) (hash h), or -1 when no entry has that word. */
  private lookup(text: string, start: number, end: number, h: number): number {
    const { vocabRec, vocabMask, pool } = this;
    const len1 = end - start + 1;
    let slot = slotOf(h, vocabMask);
    for (;;) {
      const r = slot * V;
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

  // Automaton position while matching one text: state, its packed children
  // count (count * 2 + 1 when it is a child of the root, whose fail is the root).
  private s = 0;
  private sInfo = 0;

  /** Feed one token (word slot, or -1 for a word no entry has) and record the entries that end here. */
  private feed(w: number): void {
    if (w < 0) {
      this.s = 0;
      return;
    }
    const { link, vocabRec } = this;
    let s = this.s, info = this.sInfo;
    for (;;) {
      if (s === 0) {
        const r = w * V;
        const t = vocabRec[r + 3]!;
        this.s = t < 0 ? 0 : t;
        if (t < 0) return;
        this.sInfo = vocabRec[r + 5]!;
        const head = vocabRec[r + 4]!;
        if (head >= 0) this.record(head);
        return;
      }
      if (info >= 2) {
        const r = this.edgeRecord(s, w);
        if (r >= 0) {
          const t = this.edges[r + 2]!;
          this.s = t;
          this.sInfo = this.edges[r + 3]!;
          const L = 4 * t;
          if (link[L + 3]! >= 0) this.emit(t);
          else if (link[L + 1]! >= 0) this.emit(link[L + 1]!);
          return;
        }
      }
      if (info & 1) s = 0; // a child of the root fails to the root
      else {
        s = link[4 * s]!;
        info = link[4 * s + 2]!;
      }
    }
  }

  /** Index of the edge record for (s, w), or -1. */
  private edgeRecord(s: number, w: number): number {
    const { edges, edgeMask } = this;
    let slot = edgeSlot(s, w, edgeMask);
    for (;;) {
      const r = slot * 4;
      const es = edges[r]!;
      if (es === -1) return -1;
      if (es === s && edges[r + 1] === w) return r;
      slot = (slot + 1) & edgeMask;
    }
  }

  /** Record the entries of one pattern list (once per text). */
  private record(id: number): void {
    const { stamp, epoch, patNext } = this;
    for (; id >= 0; id = patNext[id]!) {
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

  /** Record every entry on the output chain starting at terminal state o (once per text). */
  private emit(o: number): void {
    const link = this.link;
    for (; o >= 0; o = link[4 * o + 1]!) this.record(link[4 * o + 3]!);
  }

  match(text: string): Uint32Array {
    if (++this.epoch === 0xffffffff) {
      this.stamp.fill(0);
      this.epoch = 1;
    }
    this.found = 0;
    this.s = 0;
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
      this.feed(this.lookup(text, start, i, h));
      // A wrapped mark is a one-character token of its own.
      if (kind === 1) this.feed(this.lookup(text, i, i + 1, Math.imul(FNV_OFFSET ^ c, FNV_PRIME)));
      start = i + 1;
      h = FNV_OFFSET;
    }
    this.feed(this.lookup(text, start, len, h));
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
