#!/usr/bin/env bash
# Names as researchers write them: a fake Hugging Face hub cache (the layout huggingface-cli
# writes: refs/<rev> holding a commit hash, snapshots/<hash>/ linking into blobs/) with a random
# Gemma-2 as google/gemma-2-9b-it and a Gemma Scope SAE as
# google/gemma-scope-9b-it-res/layer_20/width_16k/average_l0_14. Commands and a job file name
# them by id; --revision, the cache folder itself and the environment's cache roots work; names
# not in the cache, a layer_L that disagrees with --layer and bad refs fail with clear messages.
set -u
cd "$T"
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
expect_error() { # expect_error PATTERN CMD...: CMD fails and its stderr holds PATTERN (fixed string)
    local pat=$1; shift
    if "$@" >out.txt 2>err.txt; then fail "'$*' succeeded"; return; fi
    grep -qF -- "$pat" err.txt || fail "'$*': message lacks '$pat': $(cat err.txt)"
}
expect_ok() { "$@" >out.txt 2>err.txt || fail "'$*': $(cat err.txt)"; }

# The model: 22 layers (so that layer 20 exists), tiny widths; the SAE calibrated on layer 20.
"$GSAE" mkmodel m1 --preset tiny --vocab 512 --layers 22 --seed 1 >/dev/null || fail "mkmodel m1"
"$GSAE" mkmodel m2 --preset tiny --vocab 512 --layers 21 --seed 2 >/dev/null || fail "mkmodel m2"
"$GSAE" mksae sae.npz --model m1 --d-sae 128 --layer 20 --seed 1 >/dev/null || fail "mksae"

HUB=$T/hf/hub
h1=0123456789abcdef0123456789abcdef01234567 # main
h2=fedcba9876543210fedcba9876543210fedcba98 # tag v1
h3=89abcdef0123456789abcdef0123456789abcdef # the SAE repo's main
R=$HUB/models--google--gemma-2-9b-it
mkdir -p "$R/refs" "$R/blobs"
for pair in "$h1:m1" "$h2:m2"; do
    h=${pair%%:*} src=${pair#*:}
    mkdir -p "$R/snapshots/$h"
    for f in config.json model.safetensors; do
        cp "$src/$f" "$R/blobs/$h-$f"
        ln -s "../../blobs/$h-$f" "$R/snapshots/$h/$f"
    done
done
printf %s "$h1" >"$R/refs/main"
printf '%s\n' "$h2" >"$R/refs/v1"
S=$HUB/models--google--gemma-scope-9b-it-res
SUB=layer_20/width_16k/average_l0_14
mkdir -p "$S/refs" "$S/blobs" "$S/snapshots/$h3/$SUB"
cp sae.npz "$S/blobs/params"
ln -s ../../../../../blobs/params "$S/snapshots/$h3/$SUB/params.npz"
printf %s "$h3" >"$S/refs/main"
MODEL=google/gemma-2-9b-it
SAE=gemma-scope-9b-it-res/$SUB
export HF_HOME=$T/hf
unset HF_HUB_CACHE

# The repo id resolves through refs/main to its snapshot.
expect_ok "$GSAE" inspect "$MODEL"
grep -q "checkpoint   $R/snapshots/$h1\$" out.txt || fail "inspect $MODEL: $(head -2 out.txt)"
grep -q "^sizes        layers 22," out.txt || fail "inspect: not the 22-layer model: $(cat out.txt)"
# --revision: a tag (refs/v1) and a commit hash naming a snapshot directly.
expect_ok "$GSAE" inspect "$MODEL" --revision v1
grep -q "snapshots/$h2\$" out.txt || fail "--revision v1: $(head -1 out.txt)"
expect_ok "$GSAE" inspect "$MODEL" --revision "$h1"
grep -q "snapshots/$h1\$" out.txt || fail "--revision HASH: $(head -1 out.txt)"
# The cache folder itself (refs/main), with or without a trailing slash, and its --revision.
expect_ok "$GSAE" inspect "$R/"
grep -q "checkpoint   $R/snapshots/$h1\$" out.txt || fail "cache folder: $(head -1 out.txt)"
expect_ok "$GSAE" plan --model "$R" --revision v1
grep -q "layers 0-20 of 21" out.txt || fail "plan --model FOLDER --revision v1: $(head -1 out.txt)"
# Cache roots: $HF_HUB_CACHE first, else $HF_HOME/hub, else ~/.cache/huggingface/hub.
HF_HOME=/nonexistent HF_HUB_CACHE=$HUB "$GSAE" inspect "$MODEL" >/dev/null 2>err.txt ||
    fail "\$HF_HUB_CACHE: $(cat err.txt)"
mkdir -p home/.cache/huggingface
ln -s "$HUB" home/.cache/huggingface/hub
env -u HF_HOME HOME="$T/home" "$GSAE" inspect "$MODEL" >/dev/null 2>err.txt ||
    fail "~/.cache/huggingface/hub: $(cat err.txt)"
# A plain checkpoint directory still works as before.
expect_ok "$GSAE" inspect m1

# The Gemma Scope id resolves to the SAE in its snapshot, checked against the hub model.
expect_ok "$GSAE" sae-info --sae "$SAE" --model "$MODEL" --layer 20
grep -q "^path: $S/snapshots/$h3/$SUB/params.npz\$" out.txt || fail "sae-info path: $(head -1 out.txt)"
grep -q "^compatible: yes" out.txt || fail "sae-info: not compatible: $(cat out.txt)"
grep -q "^layer: 20" out.txt || fail "sae-info: layer from the path: $(cat out.txt)"
# Also given as org/release/..., and as --sae=ID --model=ID (each becomes two words).
expect_ok "$GSAE" sae-info --sae=google/$SAE --model=$MODEL --layer 20
grep -q "^compatible: yes" out.txt || fail "sae-info --sae=ID --model=ID: $(cat out.txt)"
expect_ok "$GSAE" features --model "$MODEL" --sae "$SAE" --prompt-ids 2,17,33,5 --top 3
grep -q . out.txt || fail "features printed nothing"

# On 2 ranks (pipeline of 2 stages): both ids with a revision; a missing name is reported once.
$MPIRUN -np 2 "$GSAE" features --model "$MODEL" --revision v1 --sae "$SAE" --prompt-ids 2,17,5 \
    --top 2 >out.txt 2>err.txt || fail "2 ranks: $(cat err.txt)"
grep -q "resid_post.20" out.txt || fail "2 ranks: $(cat out.txt)"
$MPIRUN -np 2 "$GSAE" features --model google/nope --sae "$SAE" --prompt-ids 2,5 >out.txt 2>err.txt &&
    fail "2 ranks, missing model: succeeded"
[ "$(grep -c 'models--google--nope (no such folder)' err.txt)" = 1 ] ||
    fail "2 ranks, missing model: not reported once: $(cat err.txt)"

# A job naming both ids: gsae run builds the command lines, the commands resolve the names.
mkdir -p jobs
cat >jobs/hub.ini <<INI
[job]
steps = info, feat, info_v1
out = $T/run
report = false
[paths]
model = $MODEL
sae = $SAE
[info]
command = sae-info
sae = \${paths.sae}
model = \${paths.model}
layer = 20
[feat]
command = features
model = \${paths.model}
sae = \${paths.sae}
prompt-ids = 2,17,33,5
top = 3
json = $T/run/feat.json
[info_v1]
command = sae-info
sae = \${paths.sae}
model = \${paths.model}
revision = v1
INI
if "$GSAE" run --job jobs/hub.ini >run.txt 2>&1; then
    grep -q "compatible: yes" run/logs/info.log || fail "job step info: $(cat run/logs/info.log)"
    grep -q "\"model\": *\"$R/snapshots/$h1\"" run/feat.json ||
        fail "job step feat: feat.json does not name the snapshot: $(head -c 300 run/feat.json)"
    # revision v1 is the 21-layer model: layer 20 still exists, so the SAE fits it too
    grep -q "checkpoint: gsae-random-tiny-seed2" run/logs/info_v1.log &&
        grep -q "compatible: yes" run/logs/info_v1.log || fail "job step info_v1: $(cat run/logs/info_v1.log)"
else
    fail "gsae run --job jobs/hub.ini: $(cat run.txt)"
fi

# --- what fails, and how it says so --------------------------------------------------------
# Not in the cache: every path tried and the command that would download it.
expect_error "$HUB/models--google--gemma-2-2b (no such folder)" "$GSAE" inspect google/gemma-2-2b
grep -qF "to download it: huggingface-cli download google/gemma-2-2b" err.txt ||
    fail "missing model: no download command: $(cat err.txt)"
grep -qF "(\$HF_HOME/hub)" err.txt || fail "missing model: does not say which root: $(cat err.txt)"
expect_error "$R/refs/v9 (no such file)" "$GSAE" inspect "$MODEL" --revision v9
grep -qF "huggingface-cli download google/gemma-2-9b-it --revision v9" err.txt ||
    fail "missing revision: no download command: $(cat err.txt)"
expect_error "$S/snapshots/$h3/layer_20/width_16k/average_l0_71 (no such file or folder)" \
    "$GSAE" sae-info --sae gemma-scope-9b-it-res/layer_20/width_16k/average_l0_71
grep -qF "huggingface-cli download google/gemma-scope-9b-it-res --include 'layer_20/width_16k/average_l0_71/*'" err.txt ||
    fail "missing SAE: no download command: $(cat err.txt)"
expect_error "models--google--gemma-scope-2b-pt-res (no such folder)" \
    "$GSAE" features --model "$MODEL" --sae gemma-scope-2b-pt-res/$SUB --prompt-ids 2,5
# The layer in the SAE's path must agree with --layer: resolved ids and plain paths alike.
expect_error "params.npz: the path names layer_20, but layer 3 was requested" \
    "$GSAE" sae-info --sae "$SAE" --model "$MODEL" --layer 3
expect_error "the path names layer_20, but layer 19 was requested" \
    "$GSAE" features --model "$MODEL" --sae "$SAE" --layer 19 --prompt-ids 2,5
mkdir -p plain/layer_2
cp sae.npz plain/layer_2/params.npz
expect_error "plain/layer_2/params.npz: the path names layer_2, but layer 3 was requested" \
    "$GSAE" sae-info --sae plain/layer_2/params.npz --layer 3
expect_error "the path names layer_2, but layer 3 was requested" \
    "$GSAE" sae-info --sae plain/layer_2 --model m1 --layer 3
# refs must hold a commit hash; revisions must not climb out of refs/.
printf '../../../../etc' >"$R/refs/bad"
expect_error "$R/refs/bad holds '../../../../etc', expected a commit hash" \
    "$GSAE" inspect "$MODEL" --revision bad
printf 'not-a-hash\n' >"$R/refs/junk"
expect_error "refs/junk holds 'not-a-hash', expected a commit hash" \
    "$GSAE" inspect "$MODEL" --revision junk
printf '%s' 1111111111111111111111111111111111111111 >"$R/refs/gone"
expect_error "$R/snapshots/1111111111111111111111111111111111111111 (no such folder)" \
    "$GSAE" inspect "$MODEL" --revision gone
expect_error "revision '../v1' is not a branch, tag or commit hash" \
    "$GSAE" inspect "$MODEL" --revision ../v1
expect_error "revision 'v1' applies to a Hugging Face repo id or cache folder; m1 is a checkpoint directory" \
    "$GSAE" inspect m1 --revision v1
# contrast and harvest read job files themselves (--job): their names resolve the same way.
printf '[job]\nsteps = c\n[c]\ncommand = contrast\nmodel = google/nope\nsae = %s\nlayer = 20\ntokenizer = t\nprompts = p\n' \
    "$SAE" >jobs/c.ini
expect_error "$HUB/models--google--nope (no such folder)" "$GSAE" contrast --job jobs/c.ini
printf '[job]\nsteps = harvest\n[harvest]\nmodel = %s\nsae = %s\ncorpus = c\nout = o\n' \
    "$MODEL" gemma-scope-9b-it-res/layer_20/width_16k/average_l0_71 >jobs/h.ini
expect_error "huggingface-cli download google/gemma-scope-9b-it-res --include 'layer_20/width_16k/average_l0_71/*'" \
    "$GSAE" harvest --job jobs/h.ini
# A name that is neither a path nor a hub name keeps the command's own message.
expect_error "cannot open" "$GSAE" inspect ./no-such-dir

[ $fails -eq 0 ] && echo "hub names: ok"
exit $((fails > 0))
