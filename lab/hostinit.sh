#!/bin/sh
# Runs as the first process of a lab host, already inside its own network
# namespace (ip netns exec) and its own private mount + UTS namespaces
# (unshare --mount --uts --propagation private).  Gives the host a private view
# of everything a payload or a shim writes, then stays as the namespace holder:
# sshd and everything it starts live in these namespaces; the real machine's
# /etc, /root, /var, /run are never written.
#   hostinit.sh HOST_DIR SHIM_DIR
set -eu
H=$1; SHIMS=$2
mkdir -p "$H/mnt" "$H/state"
# every writable layer lives in a tmpfs that only this namespace sees
mount -t tmpfs -o mode=0700 uniform-lab "$H/mnt"
for d in etc root var; do
  mkdir -p "$H/mnt/$d/upper" "$H/mnt/$d/work"
  mount -t overlay "uniform-lab-$d" -o "lowerdir=/$d,upperdir=$H/mnt/$d/upper,workdir=$H/mnt/$d/work" "/$d"
done
mount -t tmpfs -o mode=0755 uniform-lab-run /run
mkdir -p /run/sshd /run/uniform-lab
mount --bind "$H/state" /run/uniform-lab
mount --bind "$SHIMS" /usr/local/sbin
mount -o remount,bind,ro /usr/local/sbin
private="/etc /root /var /run /run/uniform-lab /usr/local/sbin"
# a hypervisor host runs its own libvirtd (harness/libvirt.py): its config, images and logs
# live in the host's lab directory, bound where libvirt looks; /run/libvirt is in the tmpfs above
if [ -d "$H/libvirt" ]; then
  for pair in etc:/etc/libvirt lib:/var/lib/libvirt log:/var/log/libvirt; do
    mkdir -p "${pair#*:}"
    mount --bind "$H/libvirt/${pair%%:*}" "${pair#*:}"
    private="$private ${pair#*:}"
  done
fi
# prove the private view before anything is written through it
for d in $private; do
  mountpoint -q "$d" || { echo "hostinit: $d is not a private mount" >&2; exit 1; }
done
hostname "lab-$(basename "$H")-unconfigured"   # private UTS namespace: the delivered hostname replaces it
# the deploy key, as a freshly installed host has it
mkdir -p -m 0700 /root/.ssh
cp "$H/authorized_keys.seed" /root/.ssh/authorized_keys
chmod 0600 /root/.ssh/authorized_keys
echo $$ > "$H/holder.pid"
touch "$H/ready"
exec sleep infinity
