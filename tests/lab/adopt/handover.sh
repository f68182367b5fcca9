#!/bin/sh
# The hand-over on svc1 (docs/adopt.md), after `uniform import` and before the first `up`:
# the hand-written DHCP and DNS files move onto the paths uniform delivers, unchanged, so
# the first up replaces each of them in place (no second dnsmasq file, no zone declared
# twice).  The zone statements have moved into named.conf.uniform with their new paths
# (handover/: the two named.conf files as the operator rewrote them), and both daemons are
# restarted on the moved files.
set -eu
mv /etc/dnsmasq.d/lan.conf /etc/dnsmasq.d/uniform-dhcp.conf
mkdir -p /etc/bind/uniform
mv /etc/bind/db.lab.test /etc/bind/uniform/db.lab.test
mv /etc/bind/db.10.77.0 /etc/bind/uniform/db.0.77.10.in-addr.arpa
systemctl restart dnsmasq
systemctl reload-or-restart named
