# Reference side of bench/loader.mjs: open_clip's train image transform
# (convert RGB, RandomResizedCrop(224, scale 0.9-1, bicubic), ToTensor,
# Normalize, then collate 64 per batch) with PIL + torchvision on the same
# JPEG bytes, in 1 or more processes. Prints one JSON line: images, wall seconds, CPU seconds.
import io, json, os, sys, time
from multiprocessing import Pool

import torch
from PIL import Image
from torchvision import transforms as T

MEAN = (0.48145466, 0.4578275, 0.40821073)
STD = (0.26862954, 0.26130258, 0.27577711)


def make_tf(size):
    return T.Compose([
        T.RandomResizedCrop(size, scale=(0.9, 1.0), interpolation=T.InterpolationMode.BICUBIC),
        T.ToTensor(),
        T.Normalize(MEAN, STD),
    ])


def work(args):
    paths, size = args
    torch.set_num_threads(1)
    tf = make_tf(size)
    blobs = [open(p, "rb").read() for p in paths]  # bytes in memory, as the loader has them
    c0 = time.process_time()
    batch = []
    for b in blobs:
        x = tf(Image.open(io.BytesIO(b)).convert("RGB"))
        assert x.shape == (3, size, size)
        batch.append(x)
        # Collate every 64 images into a fresh batch tensor, as a DataLoader
        # does (and as the clipts side builds fresh 64-image batch buffers).
        if len(batch) == 64:
            torch.stack(batch)
            batch = []
    return len(blobs), time.process_time() - c0


def main():
    folder, procs, size = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    paths = sorted(os.path.join(folder, f) for f in os.listdir(folder) if f.endswith(".jpg"))
    chunks = [(paths[i::procs], size) for i in range(procs)]
    with Pool(procs) as pool:
        pool.map(work, [(c[0][:20], size) for c in chunks])  # warm up (imports, first decode)
        t0 = time.perf_counter()
        res = pool.map(work, chunks)
        wall = time.perf_counter() - t0
    # Wall includes each process reading its files (small next to decoding).
    print(json.dumps({"images": sum(r[0] for r in res), "wall": wall, "cpu": sum(r[1] for r in res)}))


if __name__ == "__main__":
    main()
