"""The ``uniform`` command line: the top floor, over inventory, payloads and ops.

Nothing below imports this package (docs/architecture.md).
"""
