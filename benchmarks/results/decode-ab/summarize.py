"""Medians of the before/after bench runs in this folder (API job and bare faster-whisper, 5-minute file)."""

import json
import statistics as st
from pathlib import Path

HERE = Path(__file__).parent
rows = {}
for v in ("before", "after"):
    for r in (1, 2, 3):
        d = json.load((HERE / f"{v}-{r}.json").open())
        f = d["files"][0]
        b = f["bare"]
        a = f["api"]
        row = dict(
            bare_seq=b["sequential"]["transcribe_s"],
            bare_seq_cpu=b["sequential"]["transcribe_cpu_s"],
            bare_b=b["batched"]["transcribe_s"],
            bare_b_cpu=b["batched"]["transcribe_cpu_s"],
            equiv=b.get("tubesum_equivalent", {}).get("transcribe_s"),
            equiv_cpu=b.get("tubesum_equivalent", {}).get("transcribe_cpu_s"),
            api=a["job_s"],
            api_cpu=a["job_cpu_s"],
            cli=f["cli"]["wall_s"],
            cli_cpu=f["cli"]["cpu_s"],
            api_vs_batched=a["job_s"] / b["batched"]["transcribe_s"],
            api_cpu_vs_batched=a["job_cpu_s"] / b["batched"]["transcribe_cpu_s"],
            ratio_bench=f["ratios"]["api_warm_job_vs_fastest_accurate"],
            fastest=f["ratios"]["fastest_accurate_bare"],
            api_wer=a["wer"],
            b_wer=b["batched"]["wer"],
            seq_wer=b["sequential"]["wer"],
            first=d["targets"]["first_segment_s_5min"]["value"],
            segs=a["warm_jobs"][0]["segments"],
        )
        rows.setdefault(v, []).append(row)
        print(v, r, {k: (round(x, 3) if isinstance(x, float) else x) for k, x in row.items()})
for v, rs in rows.items():
    print(
        v,
        "MEDIANS",
        {
            k: round(st.median([r[k] for r in rs if r[k] is not None]), 3)
            for k in rs[0]
            if isinstance(rs[0][k], (int, float)) and rs[0][k] is not None
        },
    )
