#!/usr/bin/python3
"""Write the seed corpus of fuzz_store_part (see tests/fuzz/fuzz_store_part.c for the layout):
recipes for valid parts of schema_version 2 and 1 (netCDF-4 and CDF-5, with and without
residuals, u16 and u32 indices, empty). Usage: mkseeds_store_part.py OUT_DIR"""
import os
import struct
import sys

import numpy as np

out = sys.argv[1]
os.makedirs(out, exist_ok=True)


def part(n_windows, ctx, d_sae, seed):
    rng = np.random.default_rng(seed)
    n = n_windows * ctx
    per = rng.integers(0, 4, n)
    row = np.concatenate([[0], np.cumsum(per)]).astype('<i8')
    index = np.concatenate([np.sort(rng.choice(d_sae, k, replace=False)) for k in per] +
                           [np.zeros(0, int)]).astype("<u4")
    return dict(ids=rng.integers(0, 256000, n).astype('<i4'), doc=np.arange(n, dtype='<i8') // 5,
                pos=(np.arange(n) % 5).astype('<i4'), row=row, index=index,
                value=rng.random(len(index)).astype('<f4'))


def recipe(name, first, flags, n_windows, ctx, d_sae, d_model, seed, part_index=0):
    """flags & 128: the version 2 layout (token, sae_row_size), else version 1 (sae_row_ptr)."""
    p = part(n_windows, ctx, d_sae, seed)
    n, nnz = len(p['ids']), len(p['index'])
    v2 = bool(flags & 128)
    first_window = part_index * 4
    head = struct.pack('<6B7q16s', first, flags, 0, n, nnz, d_model, 2 if v2 else 1, part_index,
                       first_window, n_windows, ctx, d_sae, d_model, b'0123456789abcdef')
    index = p['index'].astype('<u4' if flags & 16 else '<u2')
    if v2:
        head += struct.pack('<q', first_window * ctx)
        body = [np.arange(first_window * ctx, first_window * ctx + n, dtype='<i8'), p['ids'],
                p['doc'], p['pos'], np.diff(p['row']).astype('<i4'), index, p['value']]
    else:
        body = [p['ids'], p['doc'], p['pos'], p['row'], index, p['value']]
    if flags & 4:
        r = np.linspace(-1, 1, n * d_model, dtype='<f4')
        body.append((r.view('<u4') >> 16).astype('<u2') if flags & 8 else r)
    with open(os.path.join(out, name), 'wb') as f:
        f.write(head + b''.join(a.tobytes() for a in body))


recipe('v2-nc4-plain', 1, 128, 2, 4, 100, 0, 1, part_index=3)
recipe('v2-nc4-resid-f32', 3, 128 | 4, 1, 4, 100, 3, 2)
recipe('v2-nc4-resid-bf16-u32', 3, 128 | 4 | 8 | 16, 1, 5, 70000, 2, 3, part_index=1)
recipe('v2-nc4-empty', 1, 128, 0, 8, 100, 0, 4)
recipe('v2-cdf5-resid', 3, 128 | 1 | 4, 2, 3, 50, 2, 5)
recipe('nc4-plain', 1, 0, 2, 4, 100, 0, 1)
recipe('nc4-resid-f32', 3, 4, 1, 4, 100, 3, 2)
recipe('nc4-resid-bf16-u32', 3, 4 | 8 | 16, 1, 5, 70000, 2, 3)
recipe('nc4-empty', 1, 0, 0, 8, 100, 0, 4)
recipe('cdf5-resid', 3, 1 | 4, 2, 3, 50, 2, 5)
