# Writes the PIL reference for test/data/resample.test.ts: small source
# images and what torchvision's PIL transforms make of them. Run with Debian's
# Python (python3-pil), from this folder:  /usr/bin/python3 make.py
#
# Each case is torchvision's code path on a PIL image opened from the file
# and .convert("RGB")-ed as open_clip does:
#   train: F.resized_crop = img.crop(box).resize((size, size), BICUBIC)
#   eval:  Resize(size) = img.resize(shortest side -> size, BICUBIC), then
#          CenterCrop(size) = crop at round((W - size) / 2), round((H - size) / 2)
import base64, json, random
from PIL import Image

random.seed(7)


def photo(w, h, mode):
    """Smooth gradients plus noise, so the resize has real detail to filter."""
    img = Image.new("RGB", (w, h))
    px = img.load()
    for y in range(h):
        for x in range(w):
            px[x, y] = (
                (x * 255 // w + random.randint(0, 40)) % 256,
                (y * 255 // h + random.randint(0, 40)) % 256,
                ((x + y) * 3 + random.randint(0, 80)) % 256,
            )
    return img.convert(mode)


sources = {
    "photo.jpg": (photo(97, 61, "RGB"), dict(format="JPEG", quality=90)),
    "grey.jpg": (photo(40, 53, "L"), dict(format="JPEG", quality=85)),
    "photo.png": (photo(64, 48, "RGB"), dict(format="PNG")),
}
for name, (img, kw) in sources.items():
    img.save(name, **kw)


def eval_case(img, size):
    w, h = img.size
    rw, rh = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    r = img.resize((rw, rh), Image.BICUBIC)
    left, top = int(round((rw - size) / 2)), int(round((rh - size) / 2))
    return r.crop((left, top, left + size, top + size))


cases = []
for name in sources:
    img = Image.open(name).convert("RGB")
    w, h = img.size
    boxes = [(0, 0, w, h), (3, 2, w * 2 // 3, h * 3 // 4), (w // 2, h // 3, 9, 7), (1, 0, w - 1, h)]
    # Size 20 shrinks every box but the 9x7 one; 48 on grey.jpg (40x53)
    # enlarges one axis and shrinks the other.
    for size in (20, 48) if name == "grey.jpg" else (20,):
        for (l, t, bw, bh) in boxes[:1] if size == 48 else boxes:
            out = img.crop((l, t, l + bw, t + bh)).resize((size, size), Image.BICUBIC)
            cases.append(dict(file=name, mode="train", size=size, box=[l, t, bw, bh], rgb=base64.b64encode(out.tobytes()).decode()))
        out = eval_case(img, size)
        cases.append(dict(file=name, mode="eval", size=size, rgb=base64.b64encode(out.tobytes()).decode()))

import PIL
with open("cases.json", "w") as f:
    json.dump({"pillow": PIL.__version__, "cases": cases}, f)
