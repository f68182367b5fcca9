"""Development harness: the engine driver and the namespace lab.

Used by tests/, bench/ and lab/run; not part of the wheel (pyproject.toml ships only
the packages that run in production).
"""
