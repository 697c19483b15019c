"""PyTorch reference for bench/torch-step.js: the same tiny CLIP (open_clip
layout: pre-LN ViT with class token, causal text transformer pooled at the EOT
token, CLIP contrastive loss) trained with AdamW, timed per step.

Usage: /usr/bin/python3 bench/torch-step.py --batch 32 --steps 5 [--device cuda --bf16] [--dims JSON]
--dims takes the clipts ModelConfig (as bench/torch-step.js passes it); default: the tiny model.
Attention uses F.scaled_dot_product_attention where PyTorch has it (2.x), else the math form.
Prints one JSON line: {"step_ms": ..., "matmul_gflops": ..., "torch": version}.
"""
import argparse
import json
import math
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Attention(nn.Module):
    def __init__(self, width, heads, causal):
        super().__init__()
        self.heads, self.causal = heads, causal
        self.in_proj = nn.Linear(width, 3 * width)
        self.out_proj = nn.Linear(width, width)

    def forward(self, x):
        b, n, w = x.shape
        q, k, v = self.in_proj(x).view(b, n, 3, self.heads, w // self.heads).permute(2, 0, 3, 1, 4)
        if hasattr(F, "scaled_dot_product_attention"):
            o = F.scaled_dot_product_attention(q, k, v, is_causal=self.causal)
        else:
            s = q @ k.transpose(-1, -2) * (q.shape[-1] ** -0.5)
            if self.causal:
                s = s.masked_fill(torch.ones(n, n, dtype=torch.bool, device=x.device).triu(1), float("-inf"))
            o = s.softmax(-1) @ v
        return self.out_proj(o.transpose(1, 2).reshape(b, n, w))


class Block(nn.Module):
    def __init__(self, width, heads, causal, ctx, mlp_ratio=4.0):
        super().__init__()
        self.ln_1 = nn.LayerNorm(width)
        self.attn = Attention(width, heads, causal)
        self.ln_2 = nn.LayerNorm(width)
        hidden = int(width * mlp_ratio)
        self.mlp = nn.Sequential(nn.Linear(width, hidden), nn.GELU(), nn.Linear(hidden, width))

    def forward(self, x):
        x = x + self.attn(self.ln_1(x))
        return x + self.mlp(self.ln_2(x))


class TinyClip(nn.Module):
    def __init__(self, image=64, patch=8, vwidth=192, vlayers=4, vheads=3, twidth=192, tlayers=4, theads=3,
                 ctx=32, vocab=49408, embed=128, vmlp=4.0, tmlp=4.0):
        super().__init__()
        self.image, self.ctx = image, ctx
        grid = image // patch
        self.conv1 = nn.Conv2d(3, vwidth, patch, patch, bias=False)
        self.class_embedding = nn.Parameter(torch.randn(vwidth) * vwidth ** -0.5)
        self.vpos = nn.Parameter(torch.randn(grid * grid + 1, vwidth) * vwidth ** -0.5)
        self.ln_pre = nn.LayerNorm(vwidth)
        self.vblocks = nn.Sequential(*[Block(vwidth, vheads, False, 0, vmlp) for _ in range(vlayers)])
        self.ln_post = nn.LayerNorm(vwidth)
        self.vproj = nn.Parameter(torch.randn(vwidth, embed) * vwidth ** -0.5)
        self.token_embedding = nn.Embedding(vocab, twidth)
        self.tpos = nn.Parameter(torch.randn(ctx, twidth) * 0.01)
        self.tblocks = nn.Sequential(*[Block(twidth, theads, True, ctx, tmlp) for _ in range(tlayers)])
        self.ln_final = nn.LayerNorm(twidth)
        self.tproj = nn.Parameter(torch.randn(twidth, embed) * twidth ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))

    def encode_image(self, x):  # NCHW
        x = self.conv1(x).flatten(2).transpose(1, 2)
        cls = self.class_embedding.expand(x.shape[0], 1, -1)
        x = self.ln_pre(torch.cat([cls, x], 1) + self.vpos)
        x = self.ln_post(self.vblocks(x)[:, 0])
        return x @ self.vproj

    def encode_text(self, tokens):
        x = self.token_embedding(tokens) + self.tpos
        x = self.ln_final(self.tblocks(x))
        return x[torch.arange(x.shape[0]), tokens.argmax(-1)] @ self.tproj

    def loss(self, images, tokens):
        i = F.normalize(self.encode_image(images), dim=-1)
        t = F.normalize(self.encode_text(tokens), dim=-1)
        logits = self.logit_scale.exp() * i @ t.t()
        labels = torch.arange(i.shape[0], device=i.device)
        return (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--bf16", action="store_true")
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--dims", default="")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    dev = torch.device(a.device)
    kw = {}
    if a.dims:
        c = json.loads(a.dims)
        v, t = c["vision"], c["text"]
        kw = dict(image=v["imageSize"], patch=v["patchSize"], vwidth=v["width"], vlayers=v["layers"], vheads=v["heads"],
                  vmlp=v["mlpRatio"], twidth=t["width"], tlayers=t["layers"], theads=t["heads"], tmlp=t["mlpRatio"],
                  ctx=t["contextLength"], vocab=t["vocabSize"], embed=c["embedDim"])
    # The torch backend turns TF32 on for float32 matmuls on CUDA (src/backend/torch.ts).
    torch.backends.cuda.matmul.allow_tf32 = True
    torch.backends.cudnn.allow_tf32 = True
    model = TinyClip(**kw).to(dev)
    decay = [p for n, p in model.named_parameters() if p.ndim >= 2 and "embedding" not in n or n == "token_embedding.weight"]
    rest = [p for p in model.parameters() if all(p is not q for q in decay)]
    opt = torch.optim.AdamW([{"params": decay, "weight_decay": 0.2}, {"params": rest, "weight_decay": 0.0}],
                            lr=5e-4, betas=(0.9, 0.98), eps=1e-6)
    images = torch.randn(a.batch, 3, model.image, model.image, device=dev)
    tokens = torch.randint(1, 49000, (a.batch, model.ctx), device=dev)
    tokens[:, model.ctx * 2 // 3] = 49407

    def step():
        with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=a.bf16):
            loss = model.loss(images, tokens)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        return loss.item()  # a trainer reads the loss each step

    for _ in range(a.warmup):
        step()
    cuda = dev.type == "cuda"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    for _ in range(a.steps):
        step()
    step_ms = (time.perf_counter() - t0) / a.steps * 1000
    peak = torch.cuda.max_memory_allocated() if cuda else None

    x = torch.randn(1024, 1024, device=dev)
    y = torch.randn(1024, 1024, device=dev)
    # Under --bf16 the torch backend's matmul is autocast's too.
    with torch.autocast(device_type=dev.type, dtype=torch.bfloat16, enabled=a.bf16):
        for _ in range(3):  # as bench/torch-step.js: oneDNN warms up over a few calls
            (x @ y).sum().item()
        n = 20
        t0 = time.perf_counter()
        for _ in range(n):
            z = x @ y
        z.sum().item()
    gflops = 2 * 1024 ** 3 * n / (time.perf_counter() - t0) / 1e9
    print(json.dumps({"step_ms": step_ms, "sdpa": hasattr(F, "scaled_dot_product_attention"), "matmul_gflops": gflops, "torch": torch.__version__,
                      "threads": torch.get_num_threads(), "cuda_peak_bytes": peak,
                      "device_name": torch.cuda.get_device_name(dev) if cuda else None}))


if __name__ == "__main__":
    main()
