SUMMARY = "edge-agent: the daemon, its workers, CLI, skills and models"
DESCRIPTION = "Everything a device runs: edge-agentd with the edge-asr, edge-slm and edge-wake worker \
               units, edge-agentctl, the example skills and the default models. \
               packagegroup-edge-agent-sim adds the virtual car and plant."
SECTION = "utils"
LICENSE = "MIT"

inherit packagegroup

PACKAGES = "${PN} ${PN}-sim"

RDEPENDS:${PN} = "edge-agent-models \
                  edge-agent-skills \
                  edge-agentctl \
                  edge-agentd \
                  edge-asr \
                  edge-slm \
                  edge-wake \
                  "
RDEPENDS:${PN}-sim = "edge-agent-sim \
                      mosquitto \
                      "
