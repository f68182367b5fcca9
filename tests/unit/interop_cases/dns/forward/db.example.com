; example.com, written by hand the way RFC 1035 (section 5) and the BIND ARM describe a zone file.
$TTL 1d   ; the default TTL, with a unit
$ORIGIN example.com.
@   IN  SOA  ns1.example.com. hostmaster.example.com. (
        2026112701 ; serial
        3h         ; refresh
        15m        ; retry
        1w         ; expire
        1h )       ; negative caching TTL
        IN  NS   ns1
        IN  NS   ns2.example.com.
@       IN  MX   10 mail
        IN  TXT  "v=spf1 mx -all; a semicolon inside quotes is no comment"
ns1     IN  A    192.0.2.1
ns2     3600 IN A 192.0.2.2
mail    IN 300 A 192.0.2.25
        IN  AAAA 2001:DB8:0:0::19
www     CNAME  web
web   in   a     192.0.2.80      ; lower-case class and type, odd spacing
	aaaa	2001:db8::80   ; tab-indented: the owner is web again; no TTL, no class
WWW2.Example.COM.  IN  A  192.0.2.81   ; absolute, mixed case
_sip._tcp  IN SRV 10 60 5060 web
*.dyn   IN  A   192.0.2.99    ; a wildcard: not a machine, skipped
notes IN TXT ( "first part"
               "second ; part" ) ; parentheses around quoted strings

$ORIGIN lan.example.com.
db1     IN  A    198.51.100.11
db2     IN  A    198.51.100.12
$INCLUDE hosts.inc
        IN  AAAA 2001:db8:100::12   ; the owner before the include (db2) is back
after   IN  A    198.51.100.20      ; and so is the origin lan.example.com.
$INCLUDE dmz/hosts.inc dmz.example.com.   ; an include with its own origin
$GENERATE 1-3 pool-${0,2} A 198.51.100.${100}
