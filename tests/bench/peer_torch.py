#!/usr/bin/python3
"""Peer figure for bench_engine: one Gemma-2 decoder layer's prefill in PyTorch, per layer.

The same work bench_engine times for gsae: two layers (one sliding-window, one global) with
Gemma-2 2B or 9B dimensions and random weights, a batch of T tokens, averaged per layer:
RMSNorm (1 + w), q/k/v/o projections, RoPE, GQA attention with the score soft-cap at 50 and a
causal (and windowed) mask, the gated GELU-tanh MLP, post-norms and residual adds. Printed:
tokens/s per layer, median of REPS runs with the range, in bf16 (oneDNN underneath, as PyTorch
runs on CPU) and in f32. usage: peer_torch.py [THREADS] [REPS]   (prints one line per case;
exits 3 when torch is not installed)
"""
import sys
import time

try:
    import torch
except ImportError:
    print("peer: PyTorch not installed (apt-get install python3-torch): skipped")
    sys.exit(3)

THREADS = int(sys.argv[1]) if len(sys.argv) > 1 else 2
REPS = int(sys.argv[2]) if len(sys.argv) > 2 else 5
torch.set_num_threads(THREADS)
torch.manual_seed(0)

# d_model, q heads, kv heads, head dim, d_ff, window
DIMS = {"2b": (2304, 8, 4, 256, 9216, 4096), "9b": (3584, 16, 8, 256, 14336, 4096)}


def rms(x, w):
    xf = x.float()
    y = xf * torch.rsqrt(xf.pow(2).mean(-1, keepdim=True) + 1e-6) * (1.0 + w.float())
    return y.to(x.dtype)


def rope(x, cos, sin):
    half = x.shape[-1] // 2
    x1, x2 = x[..., :half], x[..., half:]
    return x * cos + torch.cat((-x2, x1), dim=-1) * sin


class Layer:
    def __init__(self, dims, dtype, local):
        d, hq, hkv, dh, ff, self.window = dims
        self.hq, self.hkv, self.dh, self.local = hq, hkv, dh, local

        def w(o, i):
            return (torch.randn(o, i) * 0.02).to(dtype)

        self.q, self.k, self.v, self.o = w(hq * dh, d), w(hkv * dh, d), w(hkv * dh, d), w(d, hq * dh)
        self.gate, self.up, self.down = w(ff, d), w(ff, d), w(d, ff)
        self.norms = [torch.zeros(d, dtype=dtype) for _ in range(4)]

    def __call__(self, x, cos, sin, mask):
        T = x.shape[0]
        h = rms(x, self.norms[0])
        q = (h @ self.q.T).view(T, self.hq, self.dh).transpose(0, 1)
        k = (h @ self.k.T).view(T, self.hkv, self.dh).transpose(0, 1)
        v = (h @ self.v.T).view(T, self.hkv, self.dh).transpose(0, 1)
        q, k = rope(q, cos, sin), rope(k, cos, sin)
        rep = self.hq // self.hkv
        k, v = k.repeat_interleave(rep, 0), v.repeat_interleave(rep, 0)
        s = (q @ k.transpose(1, 2)).float() * self.dh ** -0.5
        s = torch.tanh(s / 50.0) * 50.0
        s = s.masked_fill(mask, float("-inf"))
        p = torch.softmax(s, dim=-1).to(x.dtype)
        a = (p @ v).transpose(0, 1).reshape(T, self.hq * self.dh) @ self.o.T
        x = x + rms(a, self.norms[1])
        h = rms(x, self.norms[2])
        m = (torch.nn.functional.gelu(h @ self.gate.T, approximate="tanh") * (h @ self.up.T)) @ self.down.T
        return x + rms(m, self.norms[3])


def case(name, T, dtype):
    dims = DIMS[name]
    layers = [Layer(dims, dtype, True), Layer(dims, dtype, False)]
    dh = dims[3]
    pos = torch.arange(T, dtype=torch.float32)
    inv = 1.0 / (10000.0 ** (torch.arange(0, dh, 2, dtype=torch.float32) / dh))
    ang = torch.outer(pos, inv)
    ang = torch.cat((ang, ang), dim=-1)
    cos, sin = ang.cos().to(dtype), ang.sin().to(dtype)
    i = torch.arange(T)
    causal = i[None, :] > i[:, None]
    windowed = causal | (i[:, None] - i[None, :] >= dims[5])
    x0 = (torch.randn(T, dims[0]) * 0.5).to(dtype)
    times = []
    with torch.inference_mode():
        for r in range(REPS + 1):
            t = time.perf_counter()
            x = x0
            for layer in layers:
                x = layer(x, cos, sin, windowed if layer.local else causal)
            times.append(time.perf_counter() - t)
    rates = sorted(T * len(layers) / t for t in times[1:])  # the first run warms up
    med = rates[len(rates) // 2]
    kind = "bf16" if dtype == torch.bfloat16 else "f32"
    print(f"peer: PyTorch {torch.__version__} gemma2-{name} {kind} prefill T={T}: {med:.0f} tokens/s "
          f"per layer (median of {REPS}, range {rates[0]:.0f}-{rates[-1]:.0f}; {THREADS} threads)")
    sys.stdout.flush()


for name in ("2b", "9b"):
    for T in (512, 1024):
        for dtype in (torch.bfloat16, torch.float32):
            case(name, T, dtype)
