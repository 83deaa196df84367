"""Prints what the real-LLM tests measured (latency, mode, whether the figure was stated) at the end."""

from __future__ import annotations

from typing import Any

from tests.llm.real_llm import MEASUREMENTS

COLUMNS = [("case", 12), ("kind", 8), ("llm calls", 9), ("llm s", 5), ("first s", 7), ("total s", 7),
           ("mode", 20), ("own markers", 11), ("model: figure", 13), ("shown: figure", 13)]


def _cell(value: Any) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.1f}"
    return "-" if value is None else str(value)


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not MEASUREMENTS:
        return
    tr = terminalreporter
    tr.section("real LLM measurements (not assertions)")
    tr.write_line("  ".join(name.ljust(width) for name, width in COLUMNS))
    for row in MEASUREMENTS:
        tr.write_line("  ".join(_cell(row.get(name)).ljust(width) for name, width in COLUMNS))
    tr.write_line("")
    tr.write_line("llm s: time in the model (answer + condense); first s: first streamed piece; own markers: the")
    tr.write_line("model's [n] markers all pointed at passages, so its own text was shown (mode llm); figure: the")
    tr.write_line("known figure is in what the model wrote / in the answer the user got (model text or fallback)")
    for row in MEASUREMENTS:
        for key in ("note", "model said"):
            if row.get(key):
                tr.write_line(f"{row['case']} {key}: {row[key]}")
