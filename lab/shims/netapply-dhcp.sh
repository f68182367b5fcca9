#!/bin/sh
# DHCP client script of the lab's networkd applier (netapply.py, for DHCP=): the script of
# both udhcpc (DHCPv4: "$1" is the event) and dhclient -6 (DHCPv6: "$reason").  It puts
# the lease on the interface as networkd's own client does: the address with the lease's
# lifetimes (so `ip addr` shows it "dynamic") and, for IPv4, the router as a proto dhcp
# default route.  Nothing else: no resolv.conf (networkd hands DNS to resolved, which a lab
# host lacks), and no flush on start (udhcpc's "deconfig").
. /usr/local/sbin/_log.sh
if [ -n "${reason:-}" ]; then   # dhclient -6
  case "$reason" in
    BOUND6|RENEW6|REBIND6|REBOOT6)
      lab_log "netapply-dhcp: $interface DHCPv6 $reason $new_ip6_address/$new_ip6_prefixlen"
      exec ip -6 addr replace "$new_ip6_address/$new_ip6_prefixlen" dev "$interface" \
        valid_lft "${new_max_life:-forever}" preferred_lft "${new_preferred_life:-forever}" ;;
    EXPIRE6|RELEASE6|STOP6)
      [ -n "${old_ip6_address:-}" ] && ip -6 addr del "$old_ip6_address/$old_ip6_prefixlen" dev "$interface" ;;
  esac
  exit 0
fi
case "$1" in   # udhcpc
  bound|renew)
    lab_log "netapply-dhcp: $interface DHCPv4 $1 $ip/$mask router ${router:-none}"
    ip addr replace "$ip/$mask" dev "$interface" valid_lft "${lease:-forever}" preferred_lft "${lease:-forever}"
    [ -z "${router:-}" ] || ip route replace default via "${router%% *}" dev "$interface" proto dhcp ;;
esac
exit 0
