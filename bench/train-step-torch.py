"""PyTorch reference for bench/train-step.js: the `tiny` CLIP (open_clip layout:
ViT 64px/8, width 192, 4 layers, 3 heads; causal text transformer width 192,
4 layers, context 32, vocab 49408; embed 128; GELU), one training step =
forward + backward + AdamW on batch 32 with the CLIP loss. Prints JSON."""
import json, math, sys, time
import torch
import torch.nn as nn
import torch.nn.functional as F

threads = int(sys.argv[1]) if len(sys.argv) > 1 else 2
steps = int(sys.argv[2]) if len(sys.argv) > 2 else 10
torch.set_num_threads(threads)
torch.manual_seed(0)


class Block(nn.Module):
    def __init__(self, w, h):
        super().__init__()
        self.ln_1 = nn.LayerNorm(w)
        self.attn = nn.MultiheadAttention(w, h)
        self.ln_2 = nn.LayerNorm(w)
        self.mlp = nn.Sequential(nn.Linear(w, 4 * w), nn.GELU(), nn.Linear(4 * w, w))

    def forward(self, x, mask=None):
        y = self.ln_1(x)
        x = x + self.attn(y, y, y, need_weights=False, attn_mask=mask)[0]
        return x + self.mlp(self.ln_2(x))


class Tower(nn.Module):
    def __init__(self, w, layers, h):
        super().__init__()
        self.resblocks = nn.ModuleList([Block(w, h) for _ in range(layers)])

    def forward(self, x, mask=None):
        x = x.permute(1, 0, 2)
        for b in self.resblocks:
            x = b(x, mask)
        return x.permute(1, 0, 2)


class Clip(nn.Module):
    def __init__(self, img=64, patch=8, vw=192, vl=4, vh=3, tw=192, tl=4, th=3, ctx=32, vocab=49408, embed=128):
        super().__init__()
        self.conv1 = nn.Conv2d(3, vw, patch, patch, bias=False)
        n = (img // patch) ** 2
        self.class_embedding = nn.Parameter(torch.randn(vw) * vw ** -0.5)
        self.vpos = nn.Parameter(torch.randn(n + 1, vw) * vw ** -0.5)
        self.ln_pre = nn.LayerNorm(vw)
        self.visual = Tower(vw, vl, vh)
        self.ln_post = nn.LayerNorm(vw)
        self.vproj = nn.Parameter(torch.randn(vw, embed) * vw ** -0.5)
        self.token_embedding = nn.Embedding(vocab, tw)
        self.positional_embedding = nn.Parameter(torch.randn(ctx, tw) * 0.01)
        self.transformer = Tower(tw, tl, th)
        self.ln_final = nn.LayerNorm(tw)
        self.text_projection = nn.Parameter(torch.randn(tw, embed) * tw ** -0.5)
        self.logit_scale = nn.Parameter(torch.tensor(math.log(1 / 0.07)))
        self.register_buffer("mask", torch.full((ctx, ctx), float("-inf")).triu_(1))

    def encode_image(self, x):
        x = self.conv1(x).flatten(2).transpose(1, 2)
        x = torch.cat([self.class_embedding.expand(x.shape[0], 1, -1), x], 1) + self.vpos
        x = self.visual(self.ln_pre(x))
        return self.ln_post(x[:, 0]) @ self.vproj

    def encode_text(self, t):
        x = self.token_embedding(t) + self.positional_embedding
        x = self.ln_final(self.transformer(x, self.mask))
        return x[torch.arange(x.shape[0]), t.argmax(-1)] @ self.text_projection


model = Clip()
exclude = lambda n, p: p.ndim < 2 or "bn" in n or "ln" in n or "bias" in n or "logit_scale" in n
named = list(model.named_parameters())
opt = torch.optim.AdamW(
    [{"params": [p for n, p in named if exclude(n, p)], "weight_decay": 0.0},
     {"params": [p for n, p in named if not exclude(n, p)], "weight_decay": 0.2}],
    lr=5e-4, betas=(0.9, 0.98), eps=1e-6)
B = 32
images = torch.randn(B, 3, 64, 64)
tokens = torch.randint(1, 49000, (B, 32))
tokens[:, -1] = 49407
labels = torch.arange(B)


def step():
    opt.zero_grad(set_to_none=True)
    fi = F.normalize(model.encode_image(images), dim=-1)
    ft = F.normalize(model.encode_text(tokens), dim=-1)
    logits = model.logit_scale.exp() * fi @ ft.t()
    loss = (F.cross_entropy(logits, labels) + F.cross_entropy(logits.t(), labels)) / 2
    loss.backward()
    opt.step()
    with torch.no_grad():
        model.logit_scale.clamp_(0, math.log(100))
    return loss.item()


for _ in range(2):
    step()
times = []
for _ in range(steps):
    t0 = time.perf_counter()
    step()
    times.append((time.perf_counter() - t0) * 1000)
times.sort()
print(json.dumps({"torch": torch.__version__, "threads": threads, "params": sum(p.numel() for p in model.parameters()),
                  "ms_per_step_median": times[len(times) // 2], "ms_per_step_min": times[0], "steps": steps}))
