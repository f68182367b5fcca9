"""``python -m ops report <customer_dir> <out.html>`` | ``python -m ops verify <customer_dir>``."""

from __future__ import annotations

import sys

USAGE = "usage: python -m ops {report,verify} ...  (python -m ops <command> --help)"


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if not args or args[0] not in ("report", "verify"):
        print(USAGE, file=sys.stderr)
        return 0 if args[:1] in (["-h"], ["--help"]) else 4
    if args[0] == "report":
        from .report import main as report_main

        return report_main(args[1:])
    from .verify import main as verify_main

    return verify_main(args[1:])


if __name__ == "__main__":
    sys.exit(main())
