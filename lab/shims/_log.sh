# Sourced by the lab shims: one line per call in the host's shim log.
# /run/uniform-lab is the host's lab state dir (bind-mounted from lab/.run/hosts/<host>/state).
LAB_STATE=/run/uniform-lab
lab_log() { printf '%s %s\n' "$(date -u +%H:%M:%S)" "$*" >> "$LAB_STATE/shims.log"; }
