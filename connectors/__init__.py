"""How uniform reaches a target: an SSH session or a local directory tree.

Used by delivery (components/) and verify (ops/) alike, so both connect, pin host
keys and treat an unreachable host the same way.  Pure Python, no Pulumi.
"""
