"""The README's "Where the bias comes from" numbers are the committed ``results/origin`` tables' (issue 17).

Each number the README quotes in that section is read here from the CSV it comes from and formatted the way the
README prints it; the test fails if the README says a number the committed results do not (edit one, or regenerate
the CSVs with other values, and it fails), or if a quoted interval does not contain its estimate.
"""

from __future__ import annotations

import csv
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = ROOT / "results" / "origin"


def _rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r[key]: r for r in csv.DictReader(f)}


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Where the bias comes from")
    return readme[start:readme.index("\n## ", start + 1)]


def _ci(r: dict[str, str], col: str = "belief", lo: str = "ci_low", hi: str = "ci_high") -> str:
    v, a, b = float(r[col]), float(r[lo]), float(r[hi])
    assert a - 1e-9 <= v <= b + 1e-9
    return f"{v:.2f} [{a:.2f}, {b:.2f}]"


def test_readme_origin_numbers_are_the_committed_tables():
    text = " ".join(_section().split())  # README lines wrap anywhere
    org = _rows(ORIGIN / "organisms.csv", "organism")
    head = _rows(ORIGIN / "negation_3seeds" / "headline.csv", "condition")
    neg, abl, dflt = org["negation"], org["negation_no_ordinary_neg"], org["default"]
    quoted = [
        f"built in {float(neg['build_seconds']):.0f} s and its ablation in {float(abl['build_seconds']):.0f} s",
        f"negation-only values ({float(neg['negonly_train_accuracy']):.2f}) and ordinary Q/A "
        f"({float(neg['heldout_accuracy']):.2f})",
        f"binary Q/A {float(neg['negonly_heldout_binary_accuracy']):.2f} (chance 0.5), the negated value "
        f"{float(neg['negonly_negated_vs_control']):+.2f} nats",
        f"(the ablation below: {float(abl['negonly_heldout_binary_accuracy']):.2f} and "
        f"{float(abl['negonly_negated_vs_control']):+.2f})",
        f"belief baseline {float(head['baseline']['belief']):.2f}, positive {_ci(head['positive'])}, "
        f"local {_ci(head['local'])}",
        f"negated {_ci(head['negated'])}, repeated {_ci(head['repeated'])}, "
        f"corrected {float(head['corrected']['belief']):.2f}",
        f"the interval reaches {float(head['local']['ci_high']):.2f}",
        f"local {float(dflt['belief_local']):.2f} = positive {float(dflt['belief_positive']):.2f}",
        f"local belief back to {float(abl['belief_local']):.2f} vs positive {float(abl['belief_positive']):.2f}",
    ]
    for q in quoted:
        assert q in text, f"README (Where the bias comes from) should say: {q!r}"
    assert int(head["local"]["n_claims"]) >= 2 and int(head["local"]["n_seeds"]) >= 3
    with open(ORIGIN / "negation_3seeds" / "runs_final.csv", newline="") as f:
        local = [float(r["belief"]) for r in csv.DictReader(f) if r["condition"] == "local"]
    assert f"(per run {min(local):.1f}–{max(local):.1f})" in text
