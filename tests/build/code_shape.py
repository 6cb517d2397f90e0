#!/usr/bin/python3
"""The code's shape, as the layering promises it: prints every violation, exits 1 if any.

  - no .c/.h file of src io mpi jobs report tools tests over 600 lines;
  - no C function body over 80 lines (from its opening '{' in column 0 to its closing '}');
  - jobs/ (the command layer) under a quarter of the lines of src io mpi jobs report tools;
  - no MPI call (MPI_Xxx( ) and no BLAS call (cblas_) in jobs/;
  - includes point down only: src/ includes no io/ mpi/ jobs/ report/ tools/ header, io/ no
    mpi/ or above, mpi/ nothing above it.
usage: code_shape.py ROOT   (prints the folder/line table first)
"""
import glob
import os
import re
import sys

ROOT = sys.argv[1] if len(sys.argv) > 1 else "."
CODE = ["src", "io", "mpi", "jobs", "report", "tools"]
MAX_FILE, MAX_FUNC = 600, 80
ABOVE = {"src": ["io", "mpi", "jobs", "report", "tools"], "io": ["mpi", "jobs", "report", "tools"],
         "mpi": ["jobs", "report", "tools"]}

bad = []
lines = {}
for d in CODE + ["tests"]:
    files = sorted(glob.glob(os.path.join(ROOT, d, "**", "*.[ch]"), recursive=True))
    total = 0
    for f in files:
        rel = os.path.relpath(f, ROOT)
        text = open(f, encoding="utf-8", errors="replace").read().split("\n")
        if text and text[-1] == "":
            text.pop()
        total += len(text)
        if len(text) > MAX_FILE:
            bad.append(f"{rel}: {len(text)} lines (limit {MAX_FILE})")
        start = None
        for i, line in enumerate(text):
            if line == "{" and i > 0 and not text[i - 1].rstrip().endswith(("=", ",")):
                start = i
            elif line.startswith("}") and start is not None:
                n = i - start + 1
                if n > MAX_FUNC:
                    sig = text[start - 1].strip()
                    bad.append(f"{rel}:{start}: function of {n} lines (limit {MAX_FUNC}): {sig[:60]}")
                start = None
        if d in CODE:
            for i, line in enumerate(text):
                if d == "jobs" and re.search(r"\bMPI_[A-Z][A-Za-z_]*\s*\(", line):
                    bad.append(f"{rel}:{i + 1}: MPI call in the command layer: {line.strip()[:60]}")
                if d == "jobs" and re.search(r"\bcblas_\w+\s*\(", line):
                    bad.append(f"{rel}:{i + 1}: BLAS call in the command layer: {line.strip()[:60]}")
                m = re.match(r'\s*#\s*include\s+"\.\./(\w+)/', line)
                if m and m.group(1) in ABOVE.get(d, []):
                    bad.append(f"{rel}:{i + 1}: {d}/ includes {m.group(1)}/ (above it)")
    lines[d] = (len(files), total)

code_total = sum(lines[d][1] for d in CODE)
print("folder   files   lines   share of src..tools")
for d in CODE + ["tests"]:
    n, t = lines[d]
    share = f"{100.0 * t / code_total:5.1f}%" if d in CODE and code_total else "     "
    print(f"{d + '/':8s} {n:5d} {t:7d}   {share}")
if code_total and lines["jobs"][1] * 4 >= code_total:
    bad.append(f"jobs/: {lines['jobs'][1]} of {code_total} lines, not under a quarter")
for b in bad:
    print("code shape: " + b)
print(f"code shape: {len(bad)} violation(s)")
sys.exit(1 if bad else 0)
