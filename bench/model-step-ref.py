"""PyTorch reference for bench/model-step.js: the same CLIP model (open_clip
module layout and state-dict names), batch and optimizer, timed per step.

Reads a JSON job on stdin: {config, batch, steps, warmup, threads}. Prints one
JSON line: ms per step (median) for forward+backward and for Adam, the
parameter count and the state-dict shapes (so the caller can check that both
sides build the same model)."""
import json
import math
import sys
import time
from collections import OrderedDict

import torch
import torch.nn as nn
import torch.nn.functional as F


class QuickGELU(nn.Module):
    def forward(self, x):
        return x * torch.sigmoid(1.702 * x)


class Block(nn.Module):
    def __init__(self, width, heads, hidden, act):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = nn.MultiheadAttention(width, heads, batch_first=True)
        self.ln_2 = nn.LayerNorm(width)
        self.mlp = nn.Sequential(OrderedDict(
            c_fc=nn.Linear(width, hidden), gelu=act(), c_proj=nn.Linear(hidden, width)))

    def forward(self, x, mask=None):
        h = self.ln_1(x)
        x = x + self.attn(h, h, h, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Transformer(nn.Module):
    def __init__(self, width, layers, heads, hidden, act):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(width, heads, hidden, act) for _ in range(layers)])

    def forward(self, x, mask=None):
        for b in self.resblocks:
            x = b(x, mask)
        return x


class Visual(nn.Module):
    def __init__(self, v, embed, act):
        super().__init__()
        w, p = v["width"], v["patchSize"]
        grid = v["imageSize"] // p
        self.conv1 = nn.Conv2d(3, w, p, p, bias=False)
        s = w ** -0.5
        self.class_embedding = nn.Parameter(s * torch.randn(w))
        self.positional_embedding = nn.Parameter(s * torch.randn(grid * grid + 1, w))
        self.ln_pre = nn.LayerNorm(w)
        self.transformer = Transformer(w, v["layers"], v["heads"], int(w * v["mlpRatio"]), act)
        self.ln_post = nn.LayerNorm(w)
        self.proj = nn.Parameter(s * torch.randn(w, embed))

    def forward(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1) + self.positional_embedding
        x = self.ln_post(self.transformer(self.ln_pre(x)))
        return x[:, 0] @ self.proj


class Clip(nn.Module):
    def __init__(self, c):
        super().__init__()
        act = QuickGELU if c["act"] == "quick_gelu" else nn.GELU
        t = c["text"]
        self.visual = Visual(c["vision"], c["embedDim"], act)
        self.token_embedding = nn.Embedding(t["vocabSize"], t["width"])
        self.positional_embedding = nn.Parameter(0.01 * torch.randn(t["contextLength"], t["width"]))
        self.transformer = Transformer(t["width"], t["layers"], t["heads"], int(t["width"] * t["mlpRatio"]), act)
        self.ln_final = nn.LayerNorm(t["width"])
        self.text_projection = nn.Parameter(t["width"] ** -0.5 * torch.randn(t["width"], c["embedDim"]))
        self.logit_scale = nn.Parameter(torch.ones([]) * math.log(1 / 0.07))
        n = t["contextLength"]
        self.register_buffer("attn_mask", torch.full((n, n), float("-inf")).triu_(1), persistent=False)

    def encode_text(self, tok):
        x = self.token_embedding(tok) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.attn_mask))
        return x[torch.arange(x.shape[0]), tok.argmax(-1)] @ self.text_projection

    def loss(self, img, tok):
        i = F.normalize(self.visual(img), dim=-1)
        t = F.normalize(self.encode_text(tok), dim=-1)
        logits = self.logit_scale.clamp(max=math.log(100)).exp() * i @ t.T
        y = torch.arange(len(i))
        return (F.cross_entropy(logits, y) + F.cross_entropy(logits.T, y)) / 2


def parity(job):
    """Load the tfjs model's parameters (float32 blob + index), run the same
    inputs, print features, loss and selected gradients."""
    c = job["config"]
    torch.set_num_threads(job["threads"])
    model = Clip(c)
    blob = open(job["params"], "rb").read()
    state = {}
    for e in job["index"]:
        n = 1
        for d in e["shape"]:
            n *= d
        t = torch.frombuffer(bytearray(blob[e["offset"]:e["offset"] + 4 * n]), dtype=torch.float32)
        state[e["name"]] = t.reshape(e["shape"])
    model.load_state_dict(state, strict=True)
    s, b = c["vision"]["imageSize"], job["batch"]
    img = torch.tensor(job["images"], dtype=torch.float32).reshape(b, s, s, 3).permute(0, 3, 1, 2)
    tok = torch.tensor(job["tokens"], dtype=torch.long).reshape(b, -1)
    # autocast: bf16 mixed precision as torch.autocast (on the CPU, PyTorch's
    # CPU op lists) against the torch backend's bf16 mode.
    with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bool(job.get("autocast"))):
        loss = model.loss(img, tok)
        image, text = model.visual(img), model.encode_text(tok)
    loss.backward()
    params = dict(model.named_parameters())
    print(json.dumps({
        "image": image.detach().float().flatten().tolist(),
        "text": text.detach().float().flatten().tolist(),
        "loss": float(loss),
        "torch": torch.__version__,
        "grads": {k: params[k].grad.flatten().tolist() for k in job["gradNames"]},
    }))


def main():
    job = json.load(sys.stdin)
    if job.get("mode") == "parity":
        return parity(job)
    c, b = job["config"], job["batch"]
    torch.set_num_threads(job["threads"])
    torch.manual_seed(0)
    model = Clip(c)
    if c["loss"] != "clip" or c["vision"]["pool"] != "tok":
        raise SystemExit("reference implements the CLIP layout only")
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    s = c["vision"]["imageSize"]
    img = torch.randn(b, 3, s, s)
    tok = torch.randint(1, 1000, (b, c["text"]["contextLength"]))
    tok[:, 20] = c["text"]["vocabSize"] - 2
    fb, ad = [], []
    for step in range(job["warmup"] + job["steps"]):
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        loss = model.loss(img, tok)
        loss.backward()
        t1 = time.perf_counter()
        opt.step()
        t2 = time.perf_counter()
        if step >= job["warmup"]:
            fb.append((t1 - t0) * 1e3)
            ad.append((t2 - t1) * 1e3)
    med = lambda a: sorted(a)[len(a) // 2]
    shapes = {k: list(v.shape) for k, v in model.state_dict().items()}
    print(json.dumps({"fwdBwdMs": med(fb), "adamMs": med(ad), "params": sum(p.numel() for p in model.parameters()),
                      "shapes": shapes, "threads": torch.get_num_threads(), "torch": torch.__version__, "loss": float(loss)}))


main()
