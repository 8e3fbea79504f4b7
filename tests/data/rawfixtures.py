"""Small raw-format fixture writers (the shapes of the real hub sources)."""

from __future__ import annotations

import json
from pathlib import Path


def hh_transcript(*turns: tuple[str, str]) -> str:
    return "".join(f"\n\n{role}: {text}" for role, text in turns)


def write_jsonl(path: Path, rows: list) -> Path:
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows))
    return path


def hh_rows(n: int, start: int = 0) -> list[dict]:
    rows = []
    for i in range(start, start + n):
        ctx = [("Human", f"What is {i} plus {i}?")]
        rows.append({
            "chosen": hh_transcript(*ctx, ("Assistant", f"{i} plus {i} is {2 * i}.")),
            "rejected": hh_transcript(*ctx, ("Assistant", f"It is {2 * i + 1}.")),
        })
    return rows


def sff_row(post="I lost my keys and found them.", s0="Lost keys, found them.", s1="Keys.", choice=0, **info):
    return {"info": {"post": post, "title": "Keys", "subreddit": "tifu", **info},
            "summaries": [{"text": s0}, {"text": s1}], "choice": choice}
