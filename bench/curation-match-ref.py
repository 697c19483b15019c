#!/usr/bin/python3
# Python reference for `clipts curate match` with MetaCLIP's semantics:
# MetaCLIP's spacing() and one pyahocorasick automaton over " entry " keys.
# Whole process: read metadata, build, read JSONL, match, write JSONL.
# Usage: curation-match-ref.py match METADATA INPUT OUTPUT
#        curation-match-ref.py build METADATA      (build time and memory only)
import json, resource, sys, time
import ahocorasick

PUNCTS = [",", ".", ";", ":", "?", "!", "`"]
TO_SPACE = ["\t", "\n", "\r"]

def spacing(text):
    s = f" {text} "
    for p in PUNCTS:
        s = s.replace(p, f" {p} ")
    for c in TO_SPACE:
        s = s.replace(c, " ")
    return s

def build(metadata):
    a = ahocorasick.Automaton()
    for i, e in enumerate(metadata):
        a.add_word(f" {e} ", i)
    a.make_automaton()
    return a

def rss_mb():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

def main():
    mode, meta_path = sys.argv[1], sys.argv[2]
    with open(meta_path) as f:
        metadata = json.load(f)
    r0 = rss_mb()
    t0 = time.perf_counter()
    a = build(metadata)
    build_s = time.perf_counter() - t0
    if mode == "build":
        print(json.dumps({"entries": len(metadata), "build_s": build_s, "peak_rss_mb": rss_mb(), "rss_before_build_mb": r0}))
        return
    inp, outp = sys.argv[3], sys.argv[4]
    n = 0
    with open(inp, encoding="utf-8") as fi, open(outp, "w") as fo:
        for line in fi:
            rec = json.loads(line)
            ids = set()
            for _, i in a.iter(spacing(rec["text"])):
                ids.add(i)
            fo.write(json.dumps({"key": rec["key"], "entries": sorted(ids)}, separators=(",", ":")) + "\n")
            n += 1
    print(json.dumps({"texts": n, "build_s": build_s, "peak_rss_mb": rss_mb()}))

main()
