"""Write a small, deterministic set of synthetic result files (every format gsae report reads,
see jobs/README.md) into the directory given as argv[1]. Used by the report tests and the
nightly run; the numbers are made up, only their shapes match real runs."""
import csv
import os
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)
rng = np.random.default_rng(20240601)
n_feat = 2048
prompts = ["e9afcf9a", "c9e6f938", "d037b0a7", "6150a2bd"]


def write(name, header, rows):
    with open(os.path.join(out, name), "w", newline="") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(header)
        w.writerows(rows)


acts = np.where(rng.random((n_feat, len(prompts))) < 0.03,
                rng.gamma(2.0, 8.0, (n_feat, len(prompts))), 0.0)
acts[1600 % n_feat, 0] = 63.1
write("acts_last_token.csv", ["feature"] + prompts,
      [[i] + [f"{v:.4f}" for v in acts[i]] for i in range(n_feat)])
pairs = [(0, 1), (2, 3), (0, 2)]
write("feature_diff.csv", ["feature"] + [f"{prompts[a]}-{prompts[b]}" for a, b in pairs],
      [[i] + [f"{acts[i, a] - acts[i, b]:.4f}" for a, b in pairs] for i in range(n_feat)])
rows = []
for feat in (3655, 1600):
    for p in prompts[:2]:
        for s in (-2, -1, 0, 1, 2):
            rows.append([feat, p, s, f"Strength {s}: the grid <b>rotates</b> & \"flips\",\n"
                                     f"np.array([[{s}, 2], [2, {s}]])"])
write("steer.csv", ["feature", "prompt", "strength", "text"], rows)
write("ablate_topk.csv", ["condition", "rank", "token", "prob"],
      [[c, k + 1, t, f"{p:.4f}"] for c, toks in
       [("baseline", ["5", "4", "\n", "6"]), ("ablate 3655", ["4", "5", " ", "3"]),
        ("ablate 3655 + error", ["5", "4", "6", "\n"])]
       for k, (t, p) in enumerate(zip(toks, [0.61, 0.2, 0.1, 0.05]))])
tokens = ["<bos>", "0", "1", "2", "\n", "[", "]", ",", " ", "grid"]
tok = rng.integers(0, len(tokens), 600)
centers = rng.normal(0, 3, (len(tokens), 3))
pcs = centers[tok] + rng.normal(0, 0.6, (600, 3))
write("pca_scores.csv", ["token", "pc1", "pc2", "pc3"],
      [[tokens[t]] + [f"{v:.4f}" for v in pc] for t, pc in zip(tok, pcs)])
write("pca_explained.csv", ["component", "explained_variance_ratio"],
      [[f"PC{i + 1}", f"{v:.4f}"] for i, v in enumerate([0.31, 0.18, 0.09, 0.05, 0.03])])
write("harvest_progress.csv", ["seconds", "tokens"],
      [[f"{10.0 * i:.1f}", int(i * 5000 + 300 * np.sin(i))] for i in range(30)])
freq = np.where(rng.random(n_feat) < 0.05, 0.0, 10 ** rng.normal(-3, 0.8, n_feat))
write("feature_freq.csv", ["feature", "frequency"], [[i, f"{f:.6g}"] for i, f in enumerate(freq)])
# Max-activating examples: 30 features (3655 and 1600 with 5 examples, 28 more with 3), the
# per-token activations of every example but feature 1600's (whose view falls back to the peak
# token highlighted), and the logit effects. Token texts include markup, control characters,
# a C1 control, a lone continuation byte (invalid UTF-8), newlines and tabs.
other = [11 * k + 5 for k in range(28)]
ma_rows = [[f, r + 1, f"{50 - 7 * r:.2f}", "x = np.array([[1, 2], <", f"tok{r}", "> & more text"]
           for f in (3655, 1600) for r in range(5)]
ma_rows += [[f, r + 1, f"{(40 - k) * (1 - 0.2 * r):.2f}", "left ", f"t{f}", " right"]
            for k, f in enumerate(other) for r in range(3)]
write("maxact.csv", ["feature", "rank", "activation", "left", "token", "right"], ma_rows)
texts = [" the", " grid", "\n", "<script>alert(1)</script>", " [", "1", ",", " 2", "]", "\t",
         "a\x01b\x7f", "\u0085", "\udc9f", " caf\u00e9", " &", "\"q\"", "\n\n", " x",
         "end\\n"]
tok_rows = []
for f, r, act, *_ in ma_rows:
    if f == 1600:
        continue
    for off in range(-6, 4):
        a = float(act) * max(0.0, 1 - abs(off) / 5) if off <= 0 else 0.1 * float(act) * (3 - off)
        tok_rows.append([f, r, off, 1000 + (f + r + off) % 50, texts[(f + 3 * r + off) % len(texts)],
                         f"{a:.4f}"])
with open(os.path.join(out, "maxact_tokens.csv"), "w", newline="", encoding="utf-8",
          errors="surrogateescape") as fh:
    w = csv.writer(fh, lineterminator="\n")
    w.writerow(["feature", "rank", "offset", "token_id", "text", "activation"])
    w.writerows(tok_rows)
write("logit_effects.csv", ["feature", "sign", "rank", "token_id", "text", "value"],
      [[f, sign, k, 2000 + k, texts[(k + (sign == "neg")) % len(texts)],
        f"{(1 if sign == 'pos' else -1) * (2.5 - 0.2 * k):.4f}"]
       for f in [3655, 1600] + other for sign in ("pos", "neg") for k in range(10)])
write("table_group_contrast.csv", ["rank", "feature", "mean_success", "mean_failure", "diff"],
      [[1, other[20], 3.5, 1.0, 2.5], [2, 3655, 2.0, 0.5, 1.5], [3, 777777, 1.0, 0.2, 0.8]])
write("summary.csv", ["key", "value"], [["model", "tiny random Gemma-2"], ["ranks", 2]])
write("table_outcomes.csv", ["task", "confidence", "outcome"],
      [["e9afcf9a", 5, "True"], ["c9e6f938", 5, "False"]])

# The JSON files gsae steer --json and gsae ablate --json write (their header comments).
import json

with open(os.path.join(out, "steer_d037b0a7.json"), "w") as f:
    json.dump({"command": "steer", "model": "m", "sae": "s", "layer": 20, "feature": 3655,
               "max_act": 183.1667, "temperature": 0.0, "n_prompt": 446,
               "runs": [{"strength": float(s), "tokens": [1, 2],
                         "text": f"<i>steered</i> by {s}\nnext line"} for s in (-2, -1, 0, 1, 2)]},
              f, indent=1)


def top(shift):
    return [{"token": 100 + k, "text": t, "logit": 5.0 - k, "prob": 0.5 / (k + 1 + shift)}
            for k, t in enumerate(["5", " 4", "\n", "np"])]


with open(os.path.join(out, "ablate_plain.json"), "w") as f:
    json.dump({"command": "ablate", "model": "m", "sae": "s", "layer": 20, "features": [3655],
               "error_term": False, "positions": "all", "n_prompt": 390,
               "answer": [{"index": 390 + i, "token": 200 + i, "text": t,
                           "clean": {"rank": i, "logit": 3.0, "prob": 0.4 / (i + 1), "top": top(0)},
                           "ablated": {"rank": i + 2, "logit": 2.0, "prob": 0.1 / (i + 1),
                                       "top": top(1)}}
                          for i, t in enumerate([" 5", "\n", "np", ".array"])]}, f, indent=1)

# gsae pca's .npy outputs.
np.save(os.path.join(out, "transformed.npy"), pcs.astype(np.float64))
np.save(os.path.join(out, "explained_variance_ratio.npy"), np.array([0.31, 0.18, 0.09]))

# The same in the "conditions" form (gsae ablate --error-term without,with --json).
plain = json.load(open(os.path.join(out, "ablate_plain.json")))
with open(os.path.join(out, "ablate_both.json"), "w") as f:
    json.dump({"command": "ablate", "features": [3655], "prompt": "e9afcf9a",
               "conditions": [{"condition": c, "error_term": e, "answer": plain["answer"]}
                              for c, e in (("ablate 3655", False), ("ablate 3655 + error", True))]},
              f, indent=1)
