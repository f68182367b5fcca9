; every record below line 1 is wrong in its own way: all are reported at once
	IN A 192.0.2.1
$ORIGIN example.com.
@ IN SOA ns1 hostmaster 1 2 3 4
  IN NS ns1
ns1 IN A 192.0.2.300
ns2 IN AAAA 192.0.2.2
ns3 IN AAA 2001:db8::3
ns4 CH A 192.0.2.4
txt IN TXT "no closing quote
web IN A 192.0.2.80 )
web2 IN A
$TTL forever
$FOO bar
$GENERATE 1-2 host-$ A 192.0.2.${0,1,n}
bad..name IN A 192.0.2.9
mail IN MX 10
ns5 IN A 192.0.2.5 192.0.2.6
ns6 IN 3600
$GENERATE 0-4294967295 h$ A 10.0.0.1
$GENERATE 1-2 h${x} A 192.0.2.1
multi IN TXT ( "a parenthesis"
               "never closed"
