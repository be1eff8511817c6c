SUMMARY = "edge-agent: offline voice agent daemon, CLI, speech, SLM and wake word workers"
DESCRIPTION = "edge-agentd understands spoken and typed commands offline, hands the \
               intent to a sandboxed WASM skill and acts through D-Bus and MQTT. The speech \
               (whisper.cpp), SLM (llama.cpp) and wake word (openWakeWord on TensorFlow Lite) \
               workers run as their own hardened units."
# The workspace's repository URL (Cargo.toml); set the real one in a bbappend.
HOMEPAGE = "https://example.invalid/edge-agent"
SECTION = "utils"
# The repository has no LICENSE file yet: the workspace declares Apache-2.0 in Cargo.toml.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

require edge-agent-source.inc
require edge-agent-crates.inc

inherit cargo cargo-update-recipe-crates systemd

# whisper-rs-sys and llama-cpp-sys-2 build whisper.cpp and llama.cpp (C++) with CMake and
# generate their bindings with bindgen, which loads libclang. clang-native is in oe-core
# from whinlatter on, in meta-clang before (scarthgap). alsa-lib: ALSA capture
# (audio.source = "alsa"). llama.cpp links OpenMP (libgomp from gcc-runtime).
DEPENDS += "alsa-lib clang-native cmake-native"
export LIBCLANG_PATH = "${STAGING_LIBDIR_NATIVE}"
export BINDGEN_EXTRA_CLANG_ARGS = "--sysroot=${STAGING_DIR_TARGET} ${TARGET_CC_ARCH}"
# ggml for the machine's tune (CFLAGS from the BSP), never the build host's CPU:
# whisper-rs-sys would otherwise pass -march=native.
export GGML_NATIVE = "OFF"

# Every binary of the workspace; tests and benchmarks are not built.
CARGO_BUILD_FLAGS += "--bins"

SYSTEMD_PACKAGES = "edge-agentd edge-asr edge-slm edge-wake"
SYSTEMD_SERVICE:edge-agentd = "edge-agentd.service"
SYSTEMD_SERVICE:edge-asr = "edge-asr.service"
SYSTEMD_SERVICE:edge-slm = "edge-slm.service"
SYSTEMD_SERVICE:edge-wake = "edge-wake.service"

# The unit, sysusers, tmpfiles and configuration files come from the repository
# (systemd/, agent/config/), as they are; none is written here.
do_install:append() {
    install -d ${D}${systemd_system_unitdir}
    install -m 0644 ${S}/systemd/edge-agentd.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/systemd/edge-asr.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/systemd/edge-slm.service ${D}${systemd_system_unitdir}/
    install -m 0644 ${S}/systemd/edge-wake.service ${D}${systemd_system_unitdir}/
    install -d ${D}${nonarch_libdir}/sysusers.d ${D}${nonarch_libdir}/tmpfiles.d
    install -m 0644 ${S}/systemd/edge-agent.sysusers ${D}${nonarch_libdir}/sysusers.d/edge-agent.conf
    install -m 0644 ${S}/systemd/edge-agent.tmpfiles ${D}${nonarch_libdir}/tmpfiles.d/edge-agent.conf
    install -d ${D}${datadir}/dbus-1/system.d
    install -m 0644 ${S}/systemd/org.edgeagent.Agent1.conf ${D}${datadir}/dbus-1/system.d/
    install -d -m 0750 ${D}${sysconfdir}/edge-agent/conf.d
    install -m 0640 ${S}/agent/config/edge-agent.toml ${D}${sysconfdir}/edge-agent/config.toml
    install -m 0640 ${S}/systemd/edge-agent-workers.toml ${D}${sysconfdir}/edge-agent/conf.d/10-workers.toml
}

# One package per binary; the account and directories (sysusers.d, tmpfiles.d) in ${PN},
# which every service package depends on.
PACKAGES =+ "edge-agentd edge-agentctl edge-asr edge-slm edge-wake ${PN}-sim"

FILES:${PN} += "${nonarch_libdir}/sysusers.d/edge-agent.conf \
                ${nonarch_libdir}/tmpfiles.d/edge-agent.conf"
FILES:edge-agentd += "${bindir}/edge-agentd \
                      ${systemd_system_unitdir}/edge-agentd.service \
                      ${datadir}/dbus-1/system.d/org.edgeagent.Agent1.conf \
                      ${sysconfdir}/edge-agent"
FILES:edge-agentctl += "${bindir}/edge-agentctl"
FILES:edge-asr += "${bindir}/edge-asr ${systemd_system_unitdir}/edge-asr.service"
FILES:edge-slm += "${bindir}/edge-slm ${systemd_system_unitdir}/edge-slm.service"
FILES:edge-wake += "${bindir}/edge-wake ${systemd_system_unitdir}/edge-wake.service"
FILES:${PN}-sim += "${bindir}/edge-sim-car ${bindir}/edge-sim-plant"

# The configuration is the administrator's once installed.
CONFFILES:edge-agentd += "${sysconfdir}/edge-agent/config.toml \
                          ${sysconfdir}/edge-agent/conf.d/10-workers.toml"

# The drop-in points the daemon at the workers' sockets: it expects them installed.
RDEPENDS:edge-agentd = "${PN}"
RDEPENDS:edge-asr = "${PN}"
RDEPENDS:edge-slm = "${PN}"
# The wake worker opens the TensorFlow Lite runtime and models at run time.
RDEPENDS:edge-wake = "${PN} edge-agent-wake-models"
RRECOMMENDS:edge-agentd = "edge-asr edge-slm edge-agent-skills edge-agent-models"
