SUMMARY = "edge-agent example skills (WASM components)"
DESCRIPTION = "The climate, windows, navigation, media, equipment and troubleshoot skills, \
               built from skills/ for wasm32-wasip2 and installed where edge-agentd loads \
               them (skills.dirs: /usr/lib/edge-agent/skills)."
# The workspace's repository URL (Cargo.toml); set the real one in a bbappend.
HOMEPAGE = "https://example.invalid/edge-agent"
SECTION = "utils"
# The repository has no LICENSE file yet: the workspace declares Apache-2.0 in Cargo.toml.
LICENSE = "Apache-2.0"
LIC_FILES_CHKSUM = "file://${COMMON_LICENSE_DIR}/Apache-2.0;md5=89aea4e17d99a7cacdbeed46a0096b10"

require recipes-edge-agent/edge-agent/edge-agent-source.inc
require edge-agent-skills-crates.inc

# WASM components are the same on every machine.
inherit allarch cargo_common cargo-update-recipe-crates

CARGO_LOCK_SRC_DIR = "${S}/skills"

# The toolchain for wasm32-wasip2. oe-core's rust builds the standard library for the
# machine only, and neither the wasm32-wasip2 std nor wasm-component-ld (the linker that
# turns the module into a component); so this recipe uses the upstream Rust 1.95.0
# toolchain the project pins (rust-version), fetched with its sha256 from the release
# manifest like meta-rust-bin does: rustc (with wasm-component-ld), cargo, the build
# host's std (proc-macros such as wit-bindgen run on the build host) and wasm32-wasip2 std.
# Only the build host's architecture is fetched; x86_64 and aarch64 hosts are listed.
WASM_RUST_VERSION = "1.95.0"
WASM_RUST_DIST = "https://static.rust-lang.org/dist/2026-04-16"
WASM_RUST_HOST = "${BUILD_ARCH}-unknown-linux-gnu"
SRC_URI += "${WASM_RUST_DIST}/rustc-${WASM_RUST_VERSION}-${WASM_RUST_HOST}.tar.xz;name=rustc-${BUILD_ARCH};subdir=wasm-rust \
            ${WASM_RUST_DIST}/cargo-${WASM_RUST_VERSION}-${WASM_RUST_HOST}.tar.xz;name=cargo-${BUILD_ARCH};subdir=wasm-rust \
            ${WASM_RUST_DIST}/rust-std-${WASM_RUST_VERSION}-${WASM_RUST_HOST}.tar.xz;name=std-${BUILD_ARCH};subdir=wasm-rust \
            ${WASM_RUST_DIST}/rust-std-${WASM_RUST_VERSION}-wasm32-wasip2.tar.xz;name=std-wasm32-wasip2;subdir=wasm-rust \
            "
SRC_URI[rustc-x86_64.sha256sum] = "8426a3d170a5879f5682f5fbdd024a1779b3951e7baba685af2d6dc32a6dfc15"
SRC_URI[cargo-x86_64.sha256sum] = "e74edd2cf7d0f1f1383b4f00eb90c843750bc489e2ccf7214e6476678a907425"
SRC_URI[std-x86_64.sha256sum] = "047ea7098803d3500fa1072e9cee5392697e21525559e4458128a2bf874aa382"
SRC_URI[rustc-aarch64.sha256sum] = "0fe3689eeaed603e5ef24572d11597d3edadaefd2cb181674ad621260f2501d2"
SRC_URI[cargo-aarch64.sha256sum] = "7c070aeba9bbf12073646995a03f36c346bb5f541d0078ba6d9dc2a7adaaf6af"
SRC_URI[std-aarch64.sha256sum] = "3a21b271b1ff973b94d69b25e7a39992f9fbcae1ab6d9475844a23e6ad3908ac"
SRC_URI[std-wasm32-wasip2.sha256sum] = "68146eb4c887431379966efa21d75dc957f18bd1166239c1deaa53fe38cb9ab4"

WASM_RUST_ROOT = "${WORKDIR}/wasm-rust-root"
WASM_RUST_UNPACKED = "${UNPACKDIR}/wasm-rust"

do_configure:append() {
    # Each component is an installer tree: copy its files into one toolchain root.
    rm -rf ${WASM_RUST_ROOT}
    mkdir -p ${WASM_RUST_ROOT}
    for component in ${WASM_RUST_UNPACKED}/*/; do
        for part in $(cat ${component}components); do
            cp -a ${component}${part}/. ${WASM_RUST_ROOT}/
        done
    done
}

do_compile() {
    # Build scripts and proc-macros are linked for the build host with the native compiler.
    export CARGO_TARGET_$(echo ${WASM_RUST_HOST} | tr 'a-z-' 'A-Z_')_LINKER="${BUILD_CC}"
    export RUSTC="${WASM_RUST_ROOT}/bin/rustc"
    export CARGO_BUILD_RUSTC="${WASM_RUST_ROOT}/bin/rustc"
    ${WASM_RUST_ROOT}/bin/cargo build --release --frozen --offline \
        --target wasm32-wasip2 \
        --manifest-path ${S}/skills/Cargo.toml \
        --target-dir ${B}/target
}

do_install() {
    # The layout skills/build.sh assembles: NAME/skill.toml and NAME/NAME.wasm, for the
    # example skills only (the test skills under tests/skills are not installed). The
    # troubleshoot skill's fault trees are compiled into its component.
    for manifest in ${S}/skills/*/skill.toml; do
        dir=$(dirname ${manifest})
        name=$(basename ${dir})
        wasm=${B}/target/wasm32-wasip2/release/$(echo ${name} | tr '-' '_').wasm
        install -d ${D}${nonarch_libdir}/edge-agent/skills/${name}
        install -m 0644 ${manifest} ${D}${nonarch_libdir}/edge-agent/skills/${name}/skill.toml
        install -m 0644 ${wasm} ${D}${nonarch_libdir}/edge-agent/skills/${name}/${name}.wasm
    done
}

FILES:${PN} += "${nonarch_libdir}/edge-agent/skills"
