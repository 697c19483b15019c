#!/usr/bin/python3
"""Reference for bench/tokenizer.mjs: OpenAI's CLIP simple_tokenizer algorithm,
written from its published description for this benchmark (ftfy is not
installed: of ftfy.fix_text only its uncurl_quotes step is applied, which is
the one that changes these captions; html.unescape twice, whitespace collapse,
lower, the pre-tokenizer regex, byte-level BPE with a word cache).

Python's `re` has no \\p{L}, so the pre-tokenizer pattern
  <|startoftext|>|<|endoftext|>|'s|'t|'re|'ve|'m|'ll|'d|[\\p{L}]+|[\\p{N}]|[^\\s\\p{L}\\p{N}]+
is applied by a scanner that tries the alternatives in order at each position.

usage: tokenizer_ref.py VOCAB.txt.gz CAPTIONS.txt IDS_OUT.jsonl N_IDS
prints one JSON line: {"texts": n, "seconds": s}
"""
import gzip, html, json, re, sys, time, unicodedata

UNCURL_SINGLE = re.compile("[\u02bc\u2018-\u201b]")  # ftfy.fixes.uncurl_quotes
UNCURL_DOUBLE = re.compile("[\u201c-\u201f]")
SPECIALS = ["<|startoftext|>", "<|endoftext|>"]
CONTRACTIONS = ["'s", "'t", "'re", "'ve", "'m", "'ll", "'d"]


def bytes_to_unicode():
    bs = list(range(ord("!"), ord("~") + 1)) + list(range(ord("¡"), ord("¬") + 1)) + list(range(ord("®"), ord("ÿ") + 1))
    cs = bs[:]
    n = 0
    for b in range(256):
        if b not in bs:
            bs.append(b)
            cs.append(256 + n)
            n += 1
    return dict(zip(bs, [chr(c) for c in cs]))


def is_letter(c):
    return unicodedata.category(c)[0] == "L"


def is_number(c):
    return unicodedata.category(c)[0] == "N"


def pre_tokenize(text):
    out, i, n = [], 0, len(text)
    while i < n:
        c = text[i]
        special = next((s for s in SPECIALS if text.startswith(s, i)), None)
        if special:
            out.append(special); i += len(special); continue
        con = next((s for s in CONTRACTIONS if text.startswith(s, i)), None)
        if con:
            out.append(con); i += len(con); continue
        if is_letter(c):
            j = i + 1
            while j < n and is_letter(text[j]):
                j += 1
            out.append(text[i:j]); i = j; continue
        if is_number(c):
            out.append(c); i += 1; continue
        if c.isspace():
            i += 1; continue
        j = i + 1
        while j < n and not (text[j].isspace() or is_letter(text[j]) or is_number(text[j])):
            j += 1
        out.append(text[i:j]); i = j
    return out


class SimpleTokenizer:
    def __init__(self, vocab_gz):
        self.byte_encoder = bytes_to_unicode()
        merges = gzip.open(vocab_gz).read().decode("utf-8").split("\n")
        merges = [tuple(m.split()) for m in merges[1:49152 - 256 - 2 + 1]]
        vocab = list(self.byte_encoder.values())
        vocab = vocab + [v + "</w>" for v in vocab]
        vocab += ["".join(m) for m in merges]
        vocab += SPECIALS
        self.encoder = {t: i for i, t in enumerate(vocab)}
        self.ranks = {m: i for i, m in enumerate(merges)}
        self.cache = {s: s for s in SPECIALS}

    def bpe(self, token):
        if token in self.cache:
            return self.cache[token]
        word = list(token[:-1]) + [token[-1] + "</w>"]
        while len(word) > 1:
            pairs = set(zip(word, word[1:]))
            best = min(pairs, key=lambda p: self.ranks.get(p, float("inf")))
            if best not in self.ranks:
                break
            a, b = best
            merged, i = [], 0
            while i < len(word):
                if i < len(word) - 1 and word[i] == a and word[i + 1] == b:
                    merged.append(a + b); i += 2
                else:
                    merged.append(word[i]); i += 1
            word = merged
        out = " ".join(word)
        self.cache[token] = out
        return out

    def encode(self, text):
        text = UNCURL_SINGLE.sub("'", UNCURL_DOUBLE.sub('"', text))
        text = html.unescape(html.unescape(text)).strip()
        text = " ".join(text.split()).lower()
        ids = []
        for tok in pre_tokenize(text):
            if tok in SPECIALS:
                ids.append(self.encoder[tok]); continue
            tok = "".join(self.byte_encoder[b] for b in tok.encode("utf-8"))
            ids.extend(self.encoder[t] for t in self.bpe(tok).split(" "))
        return [self.encoder["<|startoftext|>"]] + ids + [self.encoder["<|endoftext|>"]]


def main():
    vocab_gz, captions_path, ids_out, n_ids = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
    tok = SimpleTokenizer(vocab_gz)
    captions = open(captions_path, encoding="utf-8").read().split("\n")
    t0 = time.perf_counter()
    ids = [tok.encode(c) for c in captions]
    dt = time.perf_counter() - t0
    with open(ids_out, "w") as f:
        for row in ids[:n_ids]:
            f.write(json.dumps(row) + "\n")
    print(json.dumps({"texts": len(captions), "seconds": dt}))


if __name__ == "__main__":
    main()
