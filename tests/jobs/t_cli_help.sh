#!/usr/bin/env bash
# Every subcommand that `gsae --help` lists answers --help and -h with its usage on stdout and
# exit 0; options a command lists for others but does not use are refused (exit 2, the usage
# error code) with a message naming the option and the command.
set -u
status=0
fail() { echo "FAIL: $*"; status=1; }

cmds=$("$GSAE" --help | awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }')
[ "$(echo "$cmds" | wc -w)" -ge 20 ] || fail "gsae --help lists too few commands: $cmds"
for c in $cmds; do
    for h in --help -h; do
        "$GSAE" "$c" $h </dev/null >out.txt 2>err.txt
        rc=$?
        [ $rc -eq 0 ] || fail "gsae $c $h exited $rc: $(head -n 2 err.txt)"
        head -n 1 out.txt | grep -q "^usage: " || fail "gsae $c $h: stdout does not start with usage:"
        head -n 5 out.txt | grep -q "gsae $c\b" || fail "gsae $c $h: the usage does not show gsae $c"
        [ -s err.txt ] && fail "gsae $c $h wrote to stderr: $(head -n 2 err.txt)"
    done
done

# refused(CMD, OPTION, ARGS...): gsae ARGS exits 2 naming OPTION and CMD.
refused() {
    local cmd=$1 opt=$2
    shift 2
    "$GSAE" "$@" </dev/null >out.txt 2>err.txt
    local rc=$?
    [ $rc -eq 2 ] || fail "gsae $* exited $rc, expected 2: $(head -n 2 err.txt)"
    head -n 1 err.txt | grep -q -- "$opt" || fail "gsae $*: the error does not name $opt: $(head -n 1 err.txt)"
    head -n 1 err.txt | grep -q "gsae $cmd" || fail "gsae $*: the error does not name $cmd: $(head -n 1 err.txt)"
}

# harvest reads a corpus: the prompt options of features/steer/ablate are not its own.
"$GSAE" harvest --help >help.txt
for opt in --prompt --prompts --arc --prompt-ids; do
    grep -q -- "$opt " help.txt && fail "harvest --help lists $opt"
    refused harvest "$opt" harvest --model m --sae s --corpus c --out o "$opt" x
done
grep -q -- "--corpus" help.txt || fail "harvest --help lacks --corpus"
# tokenize and detokenize take their own flags only, and --jsonl none of the per-text ones.
TK=$TESTDATA/tokenizer/gemma2-tokenizer.json.zst
refused detokenize --pieces detokenize --tokenizer "$TK" --pieces
refused detokenize --no-bos detokenize --tokenizer "$TK" --no-bos
refused tokenize --keep-special tokenize --tokenizer "$TK" --keep-special
refused tokenize --no-bos tokenize --tokenizer "$TK" --jsonl --no-bos
refused tokenize --pieces tokenize --tokenizer "$TK" --jsonl --pieces
# plan: --dtype and --model-layers describe a preset; a checkpoint has its own.
refused plan --dtype plan "$TESTDATA/gemma2/tiny-mqa-bf16" --dtype f32
refused plan --model-layers plan --model "$TESTDATA/gemma2/tiny-mqa-bf16" --model-layers 3
refused version x version x
# mksae --from converts an SAE: the options of drawing one do not apply.
refused mksae --seed mksae out.npz --from in.npz --seed 3
refused mksae --d-sae mksae out.npz --from in.npz --d-sae 16
# store: info and verify take the store only; dump's options need their values.
refused store --part store info no-store --part 1
refused store --limit store dump no-store --limit
# what is still accepted
echo "hello world" | "$GSAE" tokenize --tokenizer "$TK" --no-bos --pieces >/dev/null ||
    fail "tokenize --no-bos --pieces refused"
echo "2 1000" | "$GSAE" detokenize --tokenizer "$TK" --keep-special >/dev/null ||
    fail "detokenize --keep-special refused"
"$GSAE" plan --preset 9b --dtype f32 --model-layers 21 --layer 20 >out.txt 2>&1 ||
    fail "plan --preset --dtype --model-layers --layer: $(cat out.txt)"
grep -q "^SAE at resid_post.20: stage 0, ranks 0" out.txt || fail "plan --layer: $(cat out.txt)"
exit $status
