"""``python -m eval.capture [--split dev|test|all] [--misses]``: quick capture against the gold records."""

from __future__ import annotations

import argparse
import json

from eval.capture.score import gates, load, score


def main() -> None:
    ap = argparse.ArgumentParser(prog="python -m eval.capture")
    ap.add_argument("--split", default="dev", choices=["dev", "dev1", "dev2", "dev3", "dev4", "dev5", "dev6", "test", "test1", "test4",
                                                  "test5", "test6", "all"],
                    help="dev to tune on; test only to report (default dev)")
    ap.add_argument("--misses", action="store_true", help="list the notes with a wrong risk, date, method or 未遇")
    args = ap.parse_args()
    s = score(load(args.split))
    misses = s.pop("misses")
    print(json.dumps({k: round(v, 3) if isinstance(v, float) else v for k, v in s.items()}, ensure_ascii=False, indent=1))
    for g in gates(s):
        print("未达标：" + g)
    if args.misses:
        for m in misses:
            print(json.dumps(m, ensure_ascii=False))


if __name__ == "__main__":
    main()
