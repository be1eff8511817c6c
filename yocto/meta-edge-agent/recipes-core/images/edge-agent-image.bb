SUMMARY = "A minimal systemd image running edge-agent"
DESCRIPTION = "core-image-minimal plus edge-agent (daemon, speech and SLM worker units, \
               CLI, skills, models), D-Bus and ALSA, for an ARM64 SoC or qemuarm64."
LICENSE = "MIT"

IMAGE_INSTALL = "packagegroup-core-boot \
                 packagegroup-edge-agent \
                 alsa-utils \
                 dbus \
                 ${CORE_IMAGE_EXTRA_INSTALL} \
                 "
IMAGE_LINGUAS = ""

inherit core-image

# The units are systemd services (Type=notify, sandboxing): systemd must be the init.
REQUIRED_DISTRO_FEATURES = "systemd"
inherit features_check

# The models (~140 MB) and the workers' memory need room beyond the minimal image.
IMAGE_ROOTFS_EXTRA_SPACE = "262144"
