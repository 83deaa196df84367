"""``python -m eval.askdata --split dev|test|all [--set 1|2|all] [--database-url URL] [--show-wrong]``: the
问数 parser against the hand-written readings, over the demo roster. Always exits 0 (the gate is a test)."""

from __future__ import annotations

import argparse
import datetime as dt

from eval.askdata.score import EVAL_DAY, run


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="python -m eval.askdata")
    ap.add_argument("--split", default="dev", choices=["dev", "test", "all"],
                    help="dev to tune on; test only to report (default dev)")
    ap.add_argument("--set", dest="question_set", default="all", choices=["1", "2", "3", "all"],
                    help="1: questions.jsonl; 2: questions_set2.jsonl (a second author's); 3: questions_set3.jsonl "
                         "(a third's); all: the three (default all)")
    ap.add_argument("--database-url", default=None,
                    help="an empty PostgreSQL database made by the caller (default: a temporary SQLite file)")
    ap.add_argument("--show-wrong", action="store_true",
                    help="list the dev questions not answered right (never the test ones)")
    ap.add_argument("--day", default=EVAL_DAY.isoformat(),
                    help=f"the evaluation day the demo roster is made for and asked on (default {EVAL_DAY})")
    args = ap.parse_args(argv)
    try:
        day = dt.date.fromisoformat(args.day)
    except ValueError:
        print(f"--day 应为 YYYY-MM-DD，而不是“{args.day}”")
        return 0
    try:
        _report, text = run(args.split, args.database_url, show_wrong=args.show_wrong, day=day,
                            question_set=args.question_set)
    except ImportError as exc:
        print(f"问数解析器还不能导入（app.service.askdata）：{exc}")
        return 0
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
