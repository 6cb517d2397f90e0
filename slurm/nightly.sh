#!/usr/bin/env bash
# Nightly reproducibility run: run a fixed set of gsae computations, write
#   $NIGHTLY_DIR/<date>/manifest
# with the sha256 of every output, of the inputs and job files, gsae's version and the machine,
# then compare it with the previous manifest. Exit 0: nothing drifted (or this is the first
# run, the baseline); 1: a result or input drifted (each drift is named with the file and its
# first differing value), or an entry, input or output of the previous manifest is absent now,
# or an entry was skipped (each is listed); 2: an entry failed, left no output, or gave
# different results on different rank counts.
#
#   slurm/nightly.sh [BUILD_DIR]       (make nightly; slurm/nightly.sbatch on a cluster)
#
# Environment: NIGHTLY_DIR (default results/nightly), NIGHTLY_DATA (the inputs, default
# tests/data), NIGHTLY_STAMP (the run's directory name, default the UTC date, with .2, .3, ...
# for further runs that day), NIGHTLY_ONLY (a regular expression: run only the entries whose
# names match), GSAE_LAUNCHER (default "$MPIRUN -np {n}", srun under Slurm).
set -euo pipefail

TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BUILD=$(cd "${1:-$TOP/build}" && pwd)
source "$TOP/tests/env.sh"
GSAE=${GSAE:-$BUILD/gsae}
DATA=$(cd "${NIGHTLY_DATA:-$TOP/tests/data}" && pwd)
NIGHTLY_DIR=${NIGHTLY_DIR:-$TOP/results/nightly}
if [ -n "${SLURM_JOB_ID:-}" ]; then
    LAUNCHER=${GSAE_LAUNCHER:-srun --mpi=pmix -n {n}}
else
    LAUNCHER=${GSAE_LAUNCHER:-$MPIRUN -np {n}}
fi
export GSAE DATA TOP PY3

# ---- the fixed set: one `entry` line per computation; add lines to grow it -----------------
# entry NAME "RANKS" REQUIRES "INPUTS" COMMAND
#   RANKS     rank counts to run it with; all must give bit-identical outputs
#   REQUIRES  the gsae subcommand it needs; the entry is skipped (and listed so) until it exists
#   INPUTS    files or directories, relative to $DATA (or $TOP for jobs/...), hashed as inputs
#   COMMAND   bash, run in the entry's own empty directory; $RUN is the launcher for this rank
#             count ("mpirun -np N" / "srun -n N", empty for 1), $NP the rank count, $WORK a
#             directory that keeps its path from night to night (inputs built there appear in
#             outputs' metadata); everything the command leaves in its directory is an output
define_entries() {
    entry report "1" report "arc/notebook_outcomes.csv" \
        '$PY3 "$TOP/tests/report/make_results.py" res &&
         cp "$DATA/arc/notebook_outcomes.csv" res/table_notebook_outcomes.csv &&
         "$GSAE" report res --title "gsae nightly: report views" >/dev/null'
    local case_dir c
    for case_dir in "$DATA"/gemma2/*/; do
        c=$(basename "$case_dir")
        entry "golden-$c" "1 2 3" golden "gemma2/$c" \
            '$RUN "$GSAE" golden "$DATA/gemma2/'"$c"'" out.safetensors'
    done
    # The notebook's 10 ARC prompts, as text and as token ids.
    # The demo's experiments (jobs/demo.ini, through gsae run) on a tiny random Gemma-2 and SAE
    # built from seeds: the inputs' checksums are outputs too.
    local demo="$WORK/demo/inputs" step
    entry demo-inputs "1" mksae "tokenizer/gemma2-tokenizer.json.zst arc/notebook_outcomes.csv pile" \
        'DEMO_DIR="$WORK/demo" DEMO_DATA="$DATA" "$TOP/tests/demo.sh" "$BUILD" --inputs-only &&
         (cd "$WORK/demo/inputs" && find . -type f | sort | xargs sha256sum) >inputs.sha256'
    for step in contrast steer ablate; do
        entry "demo-$step" "1 3" "$(sed -n "/^\[$step\]/,/^\[/s/^command = //p" "$TOP/jobs/demo.ini")" "jobs/demo.ini" \
            '"$GSAE" run --job "$TOP/jobs/demo.ini" --set job.steps='"$step"' --set job.ranks="$NP" \
                 --set "paths.demo='"$demo"'" --set job.report=false --out run &&
             find run -maxdepth 1 -type f ! -name job.ini ! -name timings.csv -exec mv {} . \; && rm -rf run'
    done
    # ScaLAPACK's reductions depend on the process grid: PCA results agree across rank counts
    # to rounding (about 1e-15 relative), not bit for bit, so each rank count is its own entry
    # (reruns are still compared bit for bit).
    local case_dir_pca p np
    for case_dir_pca in "$DATA"/pca/*/; do
        p=$(basename "$case_dir_pca")
        for np in 1 4; do
            entry "pca-$p-np$np" "$np" pca "pca/$p" '$RUN "$GSAE" pca --case "$DATA/pca/'"$p"'" --out .'
        done
    done
    local tasks
    tasks=$(cd "$DATA" && for t in $(tail -n +2 arc/notebook_outcomes.csv | cut -d, -f1); do ls arc/*/"$t"; done)
    entry arc-prompts "1" tokenize "arc/notebook_outcomes.csv $tasks tokenizer/gemma2-tokenizer.json.zst" \
        'for t in $(tail -n +2 "$DATA/arc/notebook_outcomes.csv" | cut -d, -f1); do
             "$GSAE" arc-prompt "$(ls "$DATA"/arc/*/"$t")" >"${t%.json}.txt"
         done
         $PY3 -c "import json, sys; [print(json.dumps({\"text\": open(f).read()})) for f in sys.argv[1:]]" \
             $(tail -n +2 "$DATA/arc/notebook_outcomes.csv" | cut -d, -f1 | sed "s/json$/txt/") >prompts.jsonl
         "$GSAE" tokenize --tokenizer "$DATA/tokenizer/gemma2-tokenizer.json.zst" --jsonl <prompts.jsonl >ids.jsonl'
}
# ----------------------------------------------------------------------------------------

names=() ranks=() requires=() inputs=() commands=()
entry() { # entry NAME RANKS REQUIRES INPUTS COMMAND (see above); NIGHTLY_ONLY=REGEX selects
    [[ "$1" =~ ${NIGHTLY_ONLY:-.} ]] || return 0
    names+=("$1"); ranks+=("$2"); requires+=("$3"); inputs+=("$4"); commands+=("$5")
}
mkdir -p "$NIGHTLY_DIR"
NIGHTLY_DIR=$(cd "$NIGHTLY_DIR" && pwd)
WORK="$NIGHTLY_DIR/work"
export WORK BUILD GSAE_LAUNCHER="$LAUNCHER"
define_entries

stamp=${NIGHTLY_STAMP:-$(date -u +%F)}
mkdir -p "$NIGHTLY_DIR"
if [ -z "${NIGHTLY_STAMP:-}" ] && [ -e "$NIGHTLY_DIR/$stamp" ]; then
    n=2; while [ -e "$NIGHTLY_DIR/$stamp.$n" ]; do n=$((n + 1)); done; stamp="$stamp.$n"
fi
prev=$(cd "$NIGHTLY_DIR" && for d in */manifest; do [ -f "$d" ] && echo "${d%/manifest}"; done |
       grep -vxF "$stamp" | sort -V | tail -n 1 || true)
run="$NIGHTLY_DIR/$stamp"
rm -rf "$run"; mkdir -p "$run/out"
echo "nightly: $run${prev:+ (previous: $prev)}"

has_command() { "$GSAE" --help 2>/dev/null | grep -q "^  $1 "; }
hash_files() { # hash_files KIND ROOT REL...: "KIND REL sha256" for each file under ROOT/REL
    local kind=$1 root=$2; shift 2
    (cd "$root" && find -L "$@" -type f -print0 | sort -z | xargs -0 -r sha256sum) |
        awk -v k="$kind" '{ print k, $2, $1 }'
}

failed=0 skipped=() body="$run/manifest.body"; : >"$body"
for i in "${!names[@]}"; do
    name=${names[$i]}
    if ! has_command "${requires[$i]}"; then
        echo "nightly: $name: SKIPPED (gsae has no '${requires[$i]}' command yet)"
        echo "skipped $name no-gsae-${requires[$i]}" >>"$body"
        skipped+=("$name")
        continue
    fi
    # the entry itself: its rank counts and inputs, so a later run can tell it is absent
    in_list=$(printf '%s\n' ${inputs[$i]} | paste -sd, -)
    echo "entry $name ranks=$(echo ${ranks[$i]} | tr ' ' ,) inputs=${in_list:--}" >>"$body"
    for rel in ${inputs[$i]}; do
        case "$rel" in jobs/*) hash_files job "$TOP" "$rel" ;; *) hash_files input "$DATA" "$rel" ;; esac
    done >>"$body"
    first=""
    for np in ${ranks[$i]}; do
        dir="$run/out/$name/np$np"; mkdir -p "$dir"
        RUN=""; [ "$np" -gt 1 ] && RUN=${LAUNCHER//\{n\}/$np}
        start=$(date +%s.%N)
        if ! (cd "$dir" && RUN="$RUN" NP="$np" bash -c "set -euo pipefail; ${commands[$i]}") >"$run/out/$name/np$np.log" 2>&1; then
            echo "nightly: $name on $np rank(s) FAILED; log: $run/out/$name/np$np.log"
            tail -n 20 "$run/out/$name/np$np.log" | sed 's/^/    | /'
            failed=1; continue
        fi
        printf 'nightly: %-28s %2s rank(s) %6.1f s\n' "$name" "$np" "$(awk -v a="$start" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')"
        hash_files output "$run/out" "$name/np$np" >>"$body"
        if [ -z "$(find "$dir" -type f -print -quit)" ]; then
            echo "nightly: $name on $np rank(s) FAILED: left no output in its directory"; failed=1
        fi
        if [ -z "$first" ]; then first=$np; continue; fi
        # Every rank count must reproduce the first one's outputs bit for bit.
        if ! diff -q <(cd "$run/out/$name/np$first" && find . -type f | sort | xargs -r sha256sum) \
                     <(cd "$dir" && find . -type f | sort | xargs -r sha256sum) >/dev/null; then
            echo "nightly: $name: outputs on $np ranks differ from $first rank(s):"
            diff <(cd "$run/out/$name/np$first" && find . -type f | sort | xargs -r sha256sum) \
                 <(cd "$dir" && find . -type f | sort | xargs -r sha256sum) | sed 's/^/    /' || true
            failed=1
        fi
    done
done

{
    echo "# gsae nightly manifest v1: sha256 of inputs, job files and outputs"
    echo "gsae_version $("$GSAE" version 2>/dev/null | head -n 1 | sed 's/^gsae //')"
    echo "machine $(hostname -s) $(uname -sm) $(nproc --all) cpus $(grep -m1 'model name' /proc/cpuinfo | sed 's/.*: //' | tr -s ' ')"
    sort -u "$body"
} >"$run/manifest"
rm -f "$body"
echo "nightly: wrote $run/manifest ($(grep -c '^output ' "$run/manifest") outputs)"
[ "$failed" -eq 0 ] || { echo "nightly: FAILED (see above)"; exit 2; }
if [ -z "$prev" ]; then
    echo "nightly: no previous manifest in $NIGHTLY_DIR: this run is the baseline"
    if [ ${#skipped[@]} -gt 0 ]; then
        echo "nightly: FAILED: ${#skipped[@]} entr$([ ${#skipped[@]} -eq 1 ] && echo y || echo ies) skipped, not checked:"
        printf '  skipped %s\n' "${skipped[@]}"
        exit 1
    fi
    exit 0
fi

# ---- compare with the previous run ----
# Everything the previous manifest lists must be here with the same sha256: an entry, input,
# job file or output absent now is a difference, and so is an entry skipped now. Only entries
# outside this run's NIGHTLY_ONLY selection (and their inputs) are left out.
NIGHTLY_ONLY=${NIGHTLY_ONLY:-} $PY3 - "$NIGHTLY_DIR/$prev" "$run" <<'PY'
import os
import re
import sys
prev_dir, cur_dir = sys.argv[1], sys.argv[2]
only = os.environ.get("NIGHTLY_ONLY") or "."

def entries(path):
    out = {}
    for line in open(path + "/manifest"):
        parts = line.split()
        if len(parts) == 3 and parts[0] in ("input", "job", "output"):
            out[(parts[0], parts[1])] = parts[2]
    return out

def runs(path):
    """{entry: its input paths, or None when not recorded} and {entry: why skipped}."""
    ran, skipped = {}, {}
    for line in open(path + "/manifest"):
        parts = line.split()
        if parts and parts[0] == "entry" and len(parts) >= 2:
            ins = next((p[7:] for p in parts[2:] if p.startswith("inputs=")), "-")
            ran[parts[1]] = [] if ins == "-" else ins.split(",")
        elif parts and parts[0] == "skipped" and len(parts) >= 2:
            skipped[parts[1]] = " ".join(parts[2:])
        elif len(parts) == 3 and parts[0] == "output":
            ran.setdefault(parts[1].split("/")[0], None)  # manifests before `entry` lines
    return ran, skipped

def first_difference(a_path, b_path):
    a, b = open(a_path, "rb").read(), open(b_path, "rb").read()
    try:
        la, lb = a.decode().split("\n"), b.decode().split("\n")
        for n, (x, y) in enumerate(zip(la, lb), 1):
            if x != y:
                col = next((i for i, (p, q) in enumerate(zip(x, y)) if p != q), min(len(x), len(y)))
                lo = max(0, col - 30)
                return f"line {n}, column {col + 1}: was {x[lo:col + 50]!r}, now {y[lo:col + 50]!r}"
        return f"line {min(len(la), len(lb)) + 1}: one file ends ({len(la)} vs {len(lb)} lines)"
    except UnicodeDecodeError:
        n = next((i for i, (p, q) in enumerate(zip(a, b)) if p != q), min(len(a), len(b)))
        return f"byte {n}: was {a[n:n + 8].hex()}, now {b[n:n + 8].hex()} ({len(a)} vs {len(b)} bytes)"

def under(path, roots):
    return any(path == r or path.startswith(r.rstrip("/") + "/") for r in roots)

old, new = entries(prev_dir), entries(cur_dir)
old_ran, old_skipped = runs(prev_dir)
new_ran, new_skipped = runs(cur_dir)
# The previous run's entries this run was asked for (NIGHTLY_ONLY), and the inputs they used.
wanted = {e for e in old_ran.keys() | old_skipped.keys() if re.search(only, e)}
unselected = set(old_ran) - wanted
if any(old_ran[e] is None for e in wanted) or not unselected:
    inputs_wanted = None  # every input of the previous manifest
else:
    inputs_wanted = [p for e in wanted for p in (old_ran.get(e) or [])]
drift = []
for e in sorted(wanted):
    if e not in new_ran and e not in new_skipped:
        drift.append(f"entry {e}: in the previous manifest, absent now")
for key in sorted(old.keys() | new.keys()):
    kind, path = key
    if key not in new:
        if kind == "output" and path.split("/")[0] in unselected:
            continue
        if kind in ("input", "job") and inputs_wanted is not None and not under(path, inputs_wanted):
            continue
        if kind == "output":
            drift.append(f"output {path}: no longer produced")
        else:
            drift.append(f"{kind} {path}: in the previous manifest, absent now")
        continue
    if key not in old:
        continue  # the set grew, or an entry's command landed: new baseline for it
    if old[key] != new[key]:
        where = f"{kind} {path}: sha256 {old[key][:12]} -> {new[key][:12]}"
        if kind == "output":
            where += "; first difference at " + first_difference(f"{prev_dir}/out/{path}", f"{cur_dir}/out/{path}")
        drift.append(where)
if drift:
    print(f"nightly: DRIFT against {prev_dir}:")
    for d in drift:
        print("  " + d)
if new_skipped:
    print(f"nightly: {len(new_skipped)} entr{'y' if len(new_skipped) == 1 else 'ies'} skipped, "
          f"not compared (a skip fails the comparison):")
    for e, why in sorted(new_skipped.items()):
        print(f"  skipped {e} ({why})")
if drift or new_skipped:
    sys.exit(1)
print(f"nightly: reproduced {prev_dir}: {sum(k[0] == 'output' for k in new)} outputs identical")
PY
