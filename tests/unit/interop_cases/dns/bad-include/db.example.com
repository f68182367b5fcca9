$ORIGIN example.com.
$INCLUDE missing.inc
$INCLUDE loop.inc
$INCLUDE sub/bad.inc
$INCLUDE
