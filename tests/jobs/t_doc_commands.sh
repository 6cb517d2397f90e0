#!/usr/bin/env bash
# The command lines of README.md and jobs/README.md run as written, so the documentation cannot
# drift from the program.
#
# A command line is a line of a code block (indented by 4 or more spaces, or fenced with ```)
# whose first word is a command (gsae, mpirun, srun, sbatch, salloc, make, python3, bash, sh, or
# a script path). Lines that start with `gsae` or `mpirun ... gsae` run here, on the demo's
# inputs; every other command line must be listed in NOT_RUN below with the reason, and a
# listed line that is no longer in the documentation fails too, so the list is reviewed when
# the documentation changes. A line fails when it exits non-zero; the failure names the
# document, the line and the command. Placeholders (a real checkpoint's path, DIR, optional
# [arguments]) are replaced as `subst` says; a new placeholder needs an entry there.
#
# The inputs: tests/demo.sh --inputs-only (the real tokenizer, the 10 ARC tasks, the Pile
# sample), and a site as jobs/README.md describes one: a copy of jobs/*.ini whose paths.ini
# points at a tiny random Gemma-2 with the 9B's hooked layer (gsae mkmodel --layers 21) and a
# 16k-feature SAE on layer 20 (gsae mksae), so the shipped jobs' features and layer exist.
# Commands run in that site directory, with gsae on PATH.
set -u
status=0
fail() { echo "FAIL: $*"; status=1; }

# Lines that do not run here: "DOC|command (comment stripped)|why".
NOT_RUN=(
    "README.md|make demo|builds and runs the demo: make's job, not this test's"
    "README.md|make test|runs every test, this one included"
    "README.md|sbatch -n 8 slurm/gsae.sbatch jobs/harvest_pile.ini|needs a Slurm cluster (tests/slurm/t_slurm.sh runs slurm/gsae.sbatch)"
    "jobs/README.md|sbatch -n 8 slurm/gsae.sbatch jobs/harvest_pile.ini|needs a Slurm cluster (tests/slurm/t_slurm.sh runs slurm/gsae.sbatch)"
)

# Placeholders in the documented lines and what they stand for here: "text|replacement".
site=$T/site
subst=(
    "/models/gemma-2-9b-it|$site/model"
    "--model DIR|--model $site/model"
    "/tmp/s|$site/tmp-s"
    "[--tokenizer T.json.zst]|--tokenizer $site/inputs/gemma2-tokenizer.json.zst"
)

# ---- the inputs ------------------------------------------------------------------------------
DEMO_DIR=$site bash "$TOP/tests/demo.sh" "$BUILD" --inputs-only >"$T/inputs.log" 2>&1 ||
    { cat "$T/inputs.log"; echo "FAIL: tests/demo.sh --inputs-only"; exit 1; }
"$GSAE" mkmodel "$site/model" --preset tiny --layers 21 --vocab 256000 --seed 1 >>"$T/inputs.log" &&
    "$GSAE" mksae "$site/sae.npz" --model "$site/model" --d-sae 16384 --layer 20 --seed 1 \
        >>"$T/inputs.log" || { cat "$T/inputs.log"; echo "FAIL: the site's model and SAE"; exit 1; }
mkdir -p "$site/work/jobs" "$site/bin"
cp "$TOP"/jobs/*.ini "$site/work/jobs/"
{
    echo "; paths.ini of the documentation test: the demo's inputs"
    echo "[paths]"
    echo "model = $site/model"
    echo "sae = $site/sae.npz"
    echo "tokenizer = $site/inputs/gemma2-tokenizer.json.zst"
    echo "arc = $site/inputs/arc"
    echo "arc_outcomes = $site/inputs/arc/notebook_outcomes.csv"
    echo "pile = $site/inputs/pile"
    echo "stores = $site/stores"
    echo "w_dec = $site/stores/W_dec.npy"
    echo
    sed -n '/^\[model\]/,$p' "$TOP/jobs/paths.ini" # the shipped hook layer
} >"$site/work/jobs/paths.ini"
grep -q '^\[model\]' "$site/work/jobs/paths.ini" || fail "jobs/paths.ini has no [model] section"
# The site's Hugging Face hub cache (HF_HOME): the model as google/gemma-2-9b-it and the SAE as
# Gemma Scope's layer_20/width_16k/average_l0_14, for the lines that name them so.
hub=$site/hf/hub
snap=$hub/models--google--gemma-2-9b-it/snapshots/0123456789abcdef0123456789abcdef01234567
scope=$hub/models--google--gemma-scope-9b-it-res/snapshots/89abcdef0123456789abcdef0123456789abcdef
mkdir -p "$snap" "$scope/layer_20/width_16k/average_l0_14" "${snap%/snapshots/*}/refs" "${scope%/snapshots/*}/refs"
ln -s "$site/model/config.json" "$site/model/model.safetensors" "$snap/"
ln -s "$site/sae.npz" "$scope/layer_20/width_16k/average_l0_14/params.npz"
printf %s "${snap##*/}" >"${snap%/snapshots/*}/refs/main"
printf %s "${scope##*/}" >"${scope%/snapshots/*}/refs/main"
export HF_HOME=$site/hf
unset HF_HUB_CACHE
ln -s "$GSAE" "$site/bin/gsae"

# ---- extraction ------------------------------------------------------------------------------
# Print "LINE<TAB>COMMAND" for the command lines of a markdown file (trailing " # comment" and
# surrounding blanks removed).
extract() {
    awk '
        function emit(text) {
            sub(/^[ \t]+/, "", text); sub(/[ \t]+#.*$/, "", text); sub(/[ \t]+$/, "", text)
            split(text, w, /[ \t]+/)
            if (w[1] ~ /^(gsae|mpirun|srun|sbatch|salloc|make|python3|bash|sh)$/ ||
                w[1] ~ /^[A-Za-z0-9_.\/-]*\/[A-Za-z0-9_.-]+\.(sh|sbatch|py)$/)
                printf "%d\t%s\n", NR, text
        }
        /^[ \t]*```/ { fenced = !fenced; next }
        fenced { emit($0); next }
        /^    / && (prev_blank || in_block) { in_block = 1; emit($0); next }
        { in_block = 0; prev_blank = ($0 ~ /^[ \t]*$/) }
    ' "$1"
}

listed() { # listed DOC CMD: prints the reason when the line is in NOT_RUN
    local e
    for e in "${NOT_RUN[@]}"; do
        [ "${e%%|*}" = "$1" ] || continue
        local rest=${e#*|}
        [ "${rest%%|*}" = "$2" ] && { echo "${rest#*|}"; return 0; }
    done
    return 1
}

runnable() { # gsae ..., or mpirun [options] gsae ...
    case "$1" in
        "gsae "* | gsae) return 0 ;;
        "mpirun "*) [[ " $1 " == *" gsae "* ]] ;;
        *) return 1 ;;
    esac
}

ran=0
# check_doc FILE NAME: run or account for every command line of FILE (NAME in messages).
check_doc() {
    local file=$1 name=$2 line cmd why run e i=0
    [ -f "$file" ] || { fail "$name: no such file"; return; }
    while IFS=$'\t' read -r line cmd; do
        i=$((i + 1))
        if why=$(listed "$name" "$cmd"); then
            echo "not run: $name:$line: $cmd  ($why)"
            seen+=("$name|$cmd")
            continue
        fi
        if ! runnable "$cmd"; then
            fail "$name:$line: '$cmd' neither runs here nor is listed in NOT_RUN of $0"
            continue
        fi
        run=$cmd
        for e in "${subst[@]}"; do run=${run//"${e%%|*}"/"${e#*|}"}; done
        echo "run: $name:$line: $run"
        if (cd "$site/work" && PATH="$site/bin:$PATH" timeout 600 bash -c "$run") \
            </dev/null >"$T/cmd.log" 2>&1; then
            ran=$((ran + 1))
        else
            local rc=$?
            tail -n 20 "$T/cmd.log" | sed 's/^/    | /'
            fail "$name:$line: '$cmd' exited $rc"
        fi
    done < <(extract "$file")
    [ $i -gt 0 ] || fail "$name: no command lines found (has the layout of its code blocks changed?)"
}

seen=()
check_doc "$TOP/README.md" README.md
check_doc "$TOP/jobs/README.md" jobs/README.md
for e in "${NOT_RUN[@]}"; do
    key=${e%|*}
    found=0
    for s in "${seen[@]}"; do [ "$s" = "$key" ] && found=1; done
    [ $found -eq 1 ] || fail "NOT_RUN lists '${key#*|}' of ${key%%|*}, which is not in it any more"
done
[ $ran -ge 5 ] || fail "only $ran documented command lines ran"
echo "$ran documented command lines ran"

# ---- the check can fail: a broken line and an unlisted one in a document ---------------------
{
    printf '# broken\n\nText.\n\n'
    printf '    gsae plan --model DIR --stages 4 --layer 99   # no such layer\n'
    printf '    sbatch -n 2 slurm/other.sbatch                # not listed\n'
    printf '    gsae --help\n'
} >"$T/broken.md"
out=$(status=0 ran=0; check_doc "$T/broken.md" broken.md; exit $status)
rc=$?
echo "$out" | sed 's/^/    broken.md: /'
[ $rc -ne 0 ] || fail "a broken documentation line passed"
echo "$out" | grep -q "^FAIL: broken.md:5: 'gsae plan --model DIR --stages 4 --layer 99' exited" ||
    fail "the failing line was not named"
echo "$out" | grep -q "^FAIL: broken.md:6: 'sbatch -n 2 slurm/other.sbatch' neither runs" ||
    fail "the unlisted line was not named"
echo "$out" | grep -q "^FAIL: broken.md:7" && fail "a good line failed in the broken document"
exit $status
