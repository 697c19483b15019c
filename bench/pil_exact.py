# Reference side of bench/pil-exact.mjs: torchvision's PIL transforms on the
# first N JPEGs of a folder, one random resized crop (train) and one resize +
# center crop (eval) each, pixels written raw to OUT.bin with the boxes in
# OUT.json. Usage: /usr/bin/python3 bench/pil_exact.py FOLDER N SIZE OUT
import json, os, random, sys
from PIL import Image

folder, n, size, out = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
random.seed(1)
cases = []
with open(out + ".bin", "wb") as f:
    for name in sorted(x for x in os.listdir(folder) if x.endswith(".jpg"))[:n]:
        im = Image.open(os.path.join(folder, name)).convert("RGB")
        W, H = im.size
        w, h = random.randint(max(1, W // 3), W), random.randint(max(1, H // 3), H)
        l, t = random.randint(0, W - w), random.randint(0, H - h)
        f.write(im.crop((l, t, l + w, t + h)).resize((size, size), Image.BICUBIC).tobytes())
        cases.append({"file": name, "mode": "train", "box": [l, t, w, h]})
        rw, rh = (size, int(size * H / W)) if W <= H else (int(size * W / H), size)
        cl, ct = int(round((rw - size) / 2)), int(round((rh - size) / 2))
        f.write(im.resize((rw, rh), Image.BICUBIC).crop((cl, ct, cl + size, ct + size)).tobytes())
        cases.append({"file": name, "mode": "eval", "size": [W, H], "resize": [rw, rh], "crop": [cl, ct]})
with open(out + ".json", "w") as f:
    json.dump(cases, f)
