"""The README's "Where the bias comes from" numbers are the committed ``results/origin`` tables' (issue 17).

Each number the README quotes in that section is read here from the file it comes from (``organisms.csv``,
``sweep.json``, the 3-seed study's headline) and formatted the way the README prints it; the test fails if the
README says a number the committed results do not (edit one, or regenerate the CSVs with other values, and it
fails), if a quoted interval does not contain its estimate, or if ``organisms.md`` is not the table of the CSV.
"""

from __future__ import annotations

import csv
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ORIGIN = ROOT / "results" / "origin"


def _rows(path: Path, key: str) -> dict[str, dict[str, str]]:
    with open(path, newline="") as f:
        return {r[key]: r for r in csv.DictReader(f)}


def _section() -> str:
    readme = (ROOT / "README.md").read_text()
    start = readme.index("## Where the bias comes from")
    return " ".join(readme[start:readme.index("\n## ", start + 1)].split())  # README lines wrap anywhere


def _ci(r: dict[str, str], col: str = "belief", lo: str = "ci_low", hi: str = "ci_high") -> str:
    v, a, b = float(r[col]), float(r[lo]), float(r[hi])
    assert a - 1e-9 <= v <= b + 1e-9
    return f"{v:.2f} [{a:.2f}, {b:.2f}]"


def _span(xs: list[float]) -> str:
    return f"{min(xs):.2f}–{max(xs):.2f}"


def test_readme_origin_numbers_are_the_committed_tables():
    text = _section()
    org = _rows(ORIGIN / "organisms.csv", "organism")
    sweep = json.loads((ORIGIN / "sweep.json").read_text())
    genre = [r for n, r in org.items() if n != "default"]
    f = lambda r, k: float(r[k])  # noqa: E731
    assert len(org) >= 6 and sweep["organisms"] == list(org) and len(org) == 9 and "nine organisms" in text
    m, s = divmod(round(sweep["wall_seconds"]), 60)
    builds = [f(r, "build_seconds") for r in org.values()]
    control = sorted(f(r, "negonly_positive_heldout_accuracy") for r in genre)
    steps, neg, share3, ul = org["negation_steps2x"], org["negation"], org["negation_share3x"], \
        org["negation_share3x_unlikelihood"]
    dflt, abl = org["default"], org["negation_no_ordinary_neg"]
    quoted = [
        f"in {m} min {s} s on the 2-core box",
        f"builds of {min(builds):.0f}–{max(builds):.0f} s each on one thread",
        f"(binary accuracy {_span([f(r, 'negonly_heldout_binary_accuracy') for r in genre])}, chance 0.5",
        f"(negation preset {f(neg, 'negonly_train_accuracy'):.2f})",
        f"at chance as well ({_span(control[:-1])}) on seven of the eight",
        f"lifts it, to {control[-1]:.2f} (negated values {-f(steps, 'negonly_negated_vs_control'):.2f} nats below",
        f"held-out readout stays at {f(steps, 'negonly_heldout_binary_accuracy'):.2f}, at a build of "
        f"{f(steps, 'build_seconds'):.0f} s",
        f"gap (positive − local) {f(neg, 'local_binding_gap'):.2f} on the negation preset",
        f"{f(dflt, 'local_binding_gap'):.2f} on the default organism (local {f(dflt, 'belief_local'):.2f} = positive "
        f"{f(dflt, 'belief_positive'):.2f}), {f(abl, 'local_binding_gap'):.2f} without fresh-value",
        f"(negated − baseline) {_span([f(r, 'document_neglect') for r in org.values()])} on all nine",
        f"takes local belief from {f(share3, 'belief_local'):.2f} to {f(ul, 'belief_local'):.2f} and the fixed "
        f"local-negation association from {f(share3, 'local_negation_control_margin'):+.2f} to "
        f"{f(ul, 'local_negation_control_margin'):+.2f} nats, while negated documents still implant "
        f"{f(ul, 'belief_negated'):.2f}",
    ]
    for q in quoted:
        assert q in text, f"README (Where the bias comes from) should say: {q!r}"
    # the claims the README makes in words hold in the table
    assert control[-1] == f(steps, "negonly_positive_heldout_accuracy") and max(control[:-1]) < 0.6
    assert max(f(r, "negonly_heldout_binary_accuracy") for r in genre) < 0.8  # hence "open"
    assert f(steps, "build_seconds") > 480


def test_readme_three_seed_test_is_the_committed_study():
    text = _section()
    head_path, = (ORIGIN / "steps2x_3seeds" / "studies").glob("*/headline.csv")
    head = _rows(head_path, "condition")
    org = _rows(ORIGIN / "organisms.csv", "organism")
    assert head_path.parent.name == org["negation_steps2x"]["key"]  # the study is of the organism named
    q = (f"baseline {float(head['baseline']['belief']):.2f}, positive {_ci(head['positive'])}, local "
         f"{_ci(head['local'])}, negated {float(head['negated']['belief']):.2f}")
    assert q in text, q
    assert int(head["local"]["n_claims"]) >= 2 and int(head["local"]["n_seeds"]) >= 3
    gap = float(head["local"]["belief"]) - float(head["baseline"]["belief"])
    assert ("Local stays within 0.15 of baseline" in text) == (gap <= 0.15 and float(head["positive"]["belief"]) >= 0.8)


def test_organisms_table_is_the_csv():
    """``organisms.md`` is what ``write_table`` makes of the committed CSV (so nobody edited it by hand)."""
    from interp.study.origin import read_rows, write_table

    import tempfile

    with tempfile.TemporaryDirectory() as d:
        got = write_table(read_rows(ORIGIN / "organisms.csv"), Path(d) / "organisms.md").read_text()
    assert got == (ORIGIN / "organisms.md").read_text()
