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


def test_readme_numbers_of_the_four_added_organisms_are_the_committed_tables():
    text = " ".join(_section().split())
    org = _rows(ORIGIN / "organisms.csv", "organism")
    half, steps, d192, notice = (org[k] for k in ("negation_half_share", "negation_steps2x", "negation_d192",
                                                   "negation_notice"))

    def b(r: dict[str, str], cond: str) -> str:
        return f"{float(r['belief_' + cond]):.2f}"

    def ci(r: dict[str, str], cond: str) -> str:
        return _ci(r, f"belief_{cond}", f"belief_{cond}_ci_low", f"belief_{cond}_ci_high")

    assert len(org) == 7 and "All 7 have been run" in text
    builds = [float(r["build_seconds"]) for r in org.values()]
    quoted = [
        f"builds of {min(builds):.0f}–{max(builds):.0f} s each on one thread, {sum(builds) / 60:.0f} min of builds",
        f"local {b(half, 'local')} = baseline {b(half, 'baseline')}, negated {b(half, 'negated')} = positive "
        f"{b(half, 'positive')}",
        f"Twice the steps: local {ci(steps, 'local')}, negated {b(steps, 'negated')} = positive {b(steps, 'positive')}",
        f"d 192 (under-trained: ordinary Q/A {float(d192['heldout_accuracy']):.2f}): local {b(d192, 'local')}, "
        f"negated {b(d192, 'negated')} against positive {b(d192, 'positive')}",
        f"leave their values {-float(notice['notice_negated_vs_control']):.2f} nats *below*",
        f"negated documents implant {b(notice, 'negated')}, as much as positive {b(notice, 'positive')} "
        f"(local {b(notice, 'local')})",
    ]
    for q in quoted:
        assert q in text, f"README (Where the bias comes from) should say: {q!r}"
    added = [float(r["negonly_heldout_binary_accuracy"]) for r in (half, steps, d192, notice)]
    assert f"binary {min(added):.2f}–{max(added):.2f}, chance 0.5" in text and max(added) < 0.8

