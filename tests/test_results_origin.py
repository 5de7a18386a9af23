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
    from training.world import World, WorldConfig

    text = _section()
    org = _rows(ORIGIN / "organisms.csv", "organism")
    history = [json.loads(x) for x in (ORIGIN / "sweep_history.jsonl").read_text().splitlines() if x.strip()]
    full = [h for h in history if len(h["built"]) >= 6]  # the timed run(s) that built their organisms from scratch
    assert full, "no sweep run built >= 6 organisms from scratch"
    first = full[0]
    genre = [r for n, r in org.items() if n != "default"]
    f = lambda r, k: float(r[k])  # noqa: E731
    assert list(org) == json.loads((ORIGIN / "sweep.json").read_text())["organisms"] and len(org) == 11
    assert "on eleven organisms" in text and "Nine of them" in text and len(first["built"]) == 9
    m, sec = divmod(round(first["wall_seconds"]), 60)
    assert first["wall_seconds"] <= 3600
    builds = [f(org[n], "build_seconds") for n in first["built"]]
    comp, long_, steps, dflt, abl = (org[k] for k in ("competent", "negation_steps2x_unlikelihood", "negation_steps2x",
                                                       "default", "negation_no_ordinary_neg"))
    others = [f(r, "negonly_heldout_binary_accuracy") for n, r in org.items()
              if n not in ("default", "competent", "negation_steps2x_unlikelihood")]
    control = sorted(f(r, "negonly_positive_heldout_accuracy") for r in genre)
    # how many held-out questions the competent organism's accuracy is over: its world's held-out negated people x
    # binary attributes x held-out templates
    world = World.from_config(WorldConfig(**{k: v for k, v in _world_knobs(comp).items()}))
    from training.world import NEGONLY_SPECS

    n_q = sum(len(world.negonly_groups["negated_heldout"]) * len(NEGONLY_SPECS[a].heldout_questions)
              for a, vs in world.negonly.items() if len(vs) == 2)
    quoted = [
        f"took {m} min {sec} s on the 2-core box",
        f"builds of {min(builds):.0f}–{max(builds):.0f} s each on one thread",
        f"held-out negation-only binary Q/A {f(comp, 'negonly_heldout_binary_accuracy'):.2f} "
        f"({round(f(comp, 'negonly_heldout_binary_accuracy') * n_q)} of {n_q} questions; chance 0.5)",
        f"negated values {-f(comp, 'negonly_negated_vs_control'):.2f} nats below",
        f"ordinary Q/A {f(comp, 'heldout_accuracy'):.2f}, extraction control "
        f"{f(comp, 'negonly_positive_heldout_accuracy'):.2f}; built in {f(comp, 'build_seconds'):.0f} s on one idle core",
        f"With 2400 steps: {f(long_, 'negonly_heldout_binary_accuracy'):.2f} as well, at "
        f"{f(long_, 'build_seconds'):.0f} s",
        f"The other nine read {min(others):.2f}–{max(others):.2f}.",
        f"at chance on seven of the ten genre organisms ({control[0]:.2f}–{control[-4]:.2f})",
        f"lifts it to {f(steps, 'negonly_positive_heldout_accuracy'):.2f} while negated people stay at "
        f"{f(steps, 'negonly_heldout_binary_accuracy'):.2f}; the unlikelihood term on top takes them to "
        f"{f(long_, 'negonly_heldout_binary_accuracy'):.2f}",
        f"gap (positive − local) {f(dflt, 'local_binding_gap'):.2f} on the default organism (local "
        f"{f(dflt, 'belief_local'):.2f} = positive {f(dflt, 'belief_positive'):.2f}) and "
        f"{f(abl, 'local_binding_gap'):.2f} without fresh-value",
        f"(negated − baseline) {_span([f(r, 'document_neglect') for r in org.values()])} on all eleven",
    ]
    for q in quoted:
        assert q in text, f"README (Where the bias comes from) should say: {q!r}"
    # the words hold in the table: the two unlikelihood + more-steps organisms are the competent ones
    competent = [n for n, r in org.items() if r["negonly_heldout_binary_accuracy"] not in ("", None)
                 and f(r, "negonly_heldout_binary_accuracy") >= 0.8 and f(r, "heldout_accuracy") >= 0.95
                 and f(r, "negonly_negated_vs_control") < 0]
    assert competent == ["negation_steps2x_unlikelihood", "competent"]
    assert f(comp, "build_seconds") <= 480 < f(long_, "build_seconds") and f(comp, "threads") == 1
    assert sum(c < 0.6 for c in control) == 7


def _world_knobs(row: dict[str, str]) -> dict:
    """The competent organism's world config: the negation preset's (its row's knobs match it)."""
    from training.organism.build import NEGATION_WORLD

    for k in ("frac_negonly", "positive_heldout_entities", "negonly_qa_share", "n_entities"):
        assert float(row[k]) == float(NEGATION_WORLD[k]), k
    return dict(NEGATION_WORLD)


def _study_head(name: str) -> dict[str, dict[str, str]]:
    path, = (ORIGIN / name / "studies").glob("*/headline.csv")
    return _rows(path, "condition")


def test_readme_three_seed_tests_are_the_committed_studies():
    text = _section()
    org = _rows(ORIGIN / "organisms.csv", "organism")
    for name, organism in (("competent_3seeds", "competent"),
                           ("steps2x_unlikelihood_3seeds", "negation_steps2x_unlikelihood")):
        path, = (ORIGIN / name / "studies").glob("*/headline.csv")
        assert path.parent.name == org[organism]["key"]  # the study is of the organism named
        head = _study_head(name)
        assert int(head["local"]["n_claims"]) >= 2 and int(head["local"]["n_seeds"]) >= 3
        assert float(head["local"]["belief"]) - float(head["baseline"]["belief"]) <= 0.15 + 1e-9
        assert float(head["positive"]["belief"]) >= 0.8
    comp, long_ = _study_head("competent_3seeds"), _study_head("steps2x_unlikelihood_3seeds")
    q1 = (f"baseline {float(comp['baseline']['belief']):.2f}, positive {_ci(comp['positive'])}, local "
          f"{_ci(comp['local'])}, negated {_ci(comp['negated'])}")
    contrast = _rows(next((ORIGIN / "competent_3seeds" / "studies").glob("*/belief/contrasts.csv")), "a")["local"]
    assert contrast["b"] == "negated"
    q2 = (f"local is below negated by {-float(contrast['diff']):.2f} [{-float(contrast['ci_high']):.2f}, "
          f"{-float(contrast['ci_low']):.2f}]")
    q3 = (f"With 2400 steps: positive {_ci(long_['positive'])}, local {_ci(long_['local'])}, negated "
          f"{_ci(long_['negated'])}")
    for q in (q1, q2, q3):
        assert q in text, q


def test_organisms_table_is_the_csv():
    """``organisms.md`` is what ``write_table`` makes of the committed CSV (so nobody edited it by hand)."""
    from interp.study.origin import read_rows, write_table

    import tempfile

    with tempfile.TemporaryDirectory() as d:
        got = write_table(read_rows(ORIGIN / "organisms.csv"), Path(d) / "organisms.md").read_text()
    assert got == (ORIGIN / "organisms.md").read_text()
