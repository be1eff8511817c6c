SUMMARY = "edge-agent wake word models: openWakeWord and the TensorFlow Lite C runtime"
DESCRIPTION = "The models edge-wake loads (openWakeWord's melspectrogram, embedding and \
               wake phrase classifiers: okay_nabu, hey_jarvis, alexa, hey_mycroft, \
               hey_rhasspy) and the TensorFlow Lite C runtime that runs them, from the PyPI \
               wheel of pyopen-wakeword for the machine's architecture, as \
               agent/models/provision.sh wake uses it (pinned in agent/models/models.lock)."
HOMEPAGE = "https://pypi.org/project/pyopen-wakeword/"
SECTION = "utils"
# openWakeWord's models and TensorFlow Lite: Apache-2.0.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

# models.lock comes from the sources.
require recipes-edge-agent/edge-agent/edge-agent-source.inc

DEPENDS += "unzip-native"

# The runtime is a prebuilt shared library of one architecture: the wheel exists for
# aarch64 and x86_64 only.
COMPATIBLE_HOST = "(aarch64|x86_64).*-linux"

PYPI_FILES = "https://files.pythonhosted.org/packages/py3/p/pyopen-wakeword"
WAKE_WHEEL:aarch64 = "pyopen_wakeword-1.1.0-py3-none-manylinux_2_35_aarch64.whl"
WAKE_WHEEL:x86-64 = "pyopen_wakeword-1.1.0-py3-none-manylinux_2_35_x86_64.whl"
SRC_URI:append:aarch64 = " ${PYPI_FILES}/${WAKE_WHEEL};name=wake-aarch64;unpack=0"
SRC_URI:append:x86-64 = " ${PYPI_FILES}/${WAKE_WHEEL};name=wake-x86_64;unpack=0"
SRC_URI[wake-aarch64.sha256sum] = "32a865123ebcc270ce6408b675456c3aecd8a6f0ddfe6311680616c9c01f990a"
SRC_URI[wake-x86_64.sha256sum] = "754347a59de2b3d378a0cbc404a8b41164036e74fa1c185f88056974e4bfb6b4"

WAKE_MODELS = "melspectrogram embedding_model okay_nabu hey_jarvis alexa hey_mycroft hey_rhasspy"

# Extract, then check every file against models.lock (as provision.sh does).
do_compile() {
    rm -rf ${B}/out
    mkdir -p ${B}/out/${TARGET_ARCH}
    for m in ${WAKE_MODELS}; do
        unzip -p ${UNPACKDIR}/${WAKE_WHEEL} pyopen_wakeword/models/${m}.tflite > ${B}/out/${m}.tflite
    done
    unzip -p ${UNPACKDIR}/${WAKE_WHEEL} pyopen_wakeword/lib/libtensorflowlite_c.so \
        > ${B}/out/${TARGET_ARCH}/libtensorflowlite_c.so
    for rel in $(cd ${B}/out && find . -type f | sed 's|^\./||'); do
        locked=$(awk -v r="wake/${rel}" '$1 == "file" && $4 == r { print $6 }' ${S}/agent/models/models.lock)
        got=$(sha256sum ${B}/out/${rel} | cut -d' ' -f1)
        if [ -z "${locked}" ] || [ "${got}" != "${locked}" ]; then
            bbfatal "${rel}: sha256 ${got}, models.lock has '${locked}'"
        fi
    done
}

# The models where the daemon's wake.models points by default; the runtime as a library
# (edge-wake.service passes it with EDGE_WAKE_TFLITE).
do_install() {
    install -d ${D}${datadir}/edge-agent/models/wake ${D}${libdir}/edge-agent
    install -m 0644 ${B}/out/*.tflite ${D}${datadir}/edge-agent/models/wake/
    install -m 0755 ${B}/out/${TARGET_ARCH}/libtensorflowlite_c.so ${D}${libdir}/edge-agent/
}

FILES:${PN} += "${datadir}/edge-agent/models/wake ${libdir}/edge-agent/libtensorflowlite_c.so"
# The runtime comes prebuilt and stripped from the wheel: it is packaged as it is, and
# opened with dlopen (no development symlink).
INHIBIT_PACKAGE_STRIP = "1"
INHIBIT_PACKAGE_DEBUG_SPLIT = "1"
