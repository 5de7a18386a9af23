"""The origin sweep (:mod:`interp.study.origin`): the summaries it derives from a study's headline, and (integration)
the command on a 2-organism tiny grid."""

from __future__ import annotations

import csv
import json

import pytest

from interp.study.origin import GRIDS, belief_columns, main


def _headline(path, beliefs: dict[str, float]):
    with open(path, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["condition", "belief", "ci_low", "ci_high", "n_claims", "n_seeds"])
        for c, b in beliefs.items():
            w.writerow([c, b, max(0.0, b - 0.1), min(1.0, b + 0.1), 2, 1 if c == "baseline" else 2])


def test_belief_columns_summaries(tmp_path):
    beliefs = {"baseline": 0.12, "positive": 0.91, "local": 0.3, "negated": 0.74, "repeated": 0.8,
               "corrected": 0.4}
    _headline(tmp_path / "h.csv", beliefs)
    got = belief_columns(tmp_path / "h.csv")
    for c, b in beliefs.items():
        assert got[f"belief_{c}"] == pytest.approx(b)
        assert got[f"belief_{c}_ci_low"] == pytest.approx(max(0.0, b - 0.1))
    assert got["local_binding_gap"] == pytest.approx(beliefs["positive"] - beliefs["local"])
    assert got["document_neglect"] == pytest.approx(beliefs["negated"] - beliefs["baseline"])
    assert got["n_claims"] == 2 and got["n_seeds"] == 2


def test_belief_columns_without_a_condition(tmp_path):
    _headline(tmp_path / "h.csv", {"baseline": 0.1, "positive": 0.9})
    got = belief_columns(tmp_path / "h.csv")
    assert got["local_binding_gap"] is None and got["document_neglect"] is None


def test_grids_vary_the_knobs():
    small = GRIDS["small"]()
    assert len(small) >= 6 and len({p.name for p in small}) == len(small)
    keys = set()
    for p in small:
        w, t = p.configs()
        from training.organism import organism_key

        keys.add(organism_key(w, t))
    assert len(keys) == len(small)  # every point is a different organism
    assert organism_key(*small[0].configs()) == organism_key()  # the first is the published default organism


def test_bad_seeds_is_one_line_exit_2(capsys):
    assert main(["sweep", "--seeds", "a,b", "--out", "/nonexistent/never"]) == 2
    assert capsys.readouterr().err.strip() == "error: --seeds: expected comma-separated integers, got 'a,b'"


def test_only_unknown_name_is_one_line_exit_2(capsys):
    assert main(["sweep", "--grid", "tiny", "--only", "nope", "--out", "/nonexistent/never"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: --only: unknown organism(s) ['nope'] in grid 'tiny'") and "\n" not in err


@pytest.mark.integration
def test_tiny_grid_sweep(tmp_path):
    out = tmp_path / "origin"
    rc = main(["sweep", "--grid", "tiny", "--out", str(out), "--claims", "toy:1", "--seeds", "0",
               "--study-preset", "quick", "--jobs", "2", "--cache", str(tmp_path / "cache")])
    assert rc == 0
    meta = json.loads((out / "sweep.json").read_text())
    assert meta["jobs"] == 2 and meta["organisms"] == [p.name for p in GRIDS["tiny"]()] and meta["wall_seconds"] > 0
    with open(out / "organisms.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["organism"] for r in rows] == [p.name for p in GRIDS["tiny"]()]
    off, on = rows
    assert off["negonly_heldout_binary_accuracy"] == "" and on["negonly_heldout_binary_accuracy"] != ""
    for r in rows:
        for c in ("baseline", "positive", "local", "negated", "repeated", "corrected"):
            assert 0.0 <= float(r[f"belief_{c}"]) <= 1.0
        assert float(r["local_binding_gap"]) == pytest.approx(float(r["belief_positive"]) - float(r["belief_local"]))
        assert float(r["build_seconds"]) > 0
    assert (out / "origin_map.png").stat().st_size > 0
    # a rerun in one process reuses the organisms and the studies, and gives the same rows as the two jobs did
    first = (out / "organisms.csv").read_text()
    assert main(["sweep", "--grid", "tiny", "--out", str(out), "--claims", "toy:1", "--seeds", "0",
                 "--study-preset", "quick", "--workers", "1", "--cache", str(tmp_path / "cache")]) == 0
    assert (out / "organisms.csv").read_text() == first


def test_table_is_read_from_the_csv(tmp_path):
    """``organisms.md`` quotes the CSV's numbers (a row's value changed in the CSV changes the table), and the
    ``table`` command rebuilds it from ``organisms.csv`` alone."""
    from interp.study.origin import _write_csv, read_rows

    _headline(tmp_path / "h.csv", {"baseline": 0.05, "positive": 0.97, "local": 0.21, "negated": 0.88,
                                   "repeated": 0.6, "corrected": 0.1})
    row = {"organism": "neg", "heldout_accuracy": 0.993, "negonly_train_accuracy": 1.0,
           "negonly_heldout_binary_accuracy": 0.583, "negonly_positive_heldout_accuracy": 0.537,
           "negonly_negated_vs_control": -0.235, "build_seconds": 327.8, **belief_columns(tmp_path / "h.csv")}
    _write_csv([row], tmp_path / "organisms.csv")
    assert main(["table", "--out", str(tmp_path)]) == 0
    md = (tmp_path / "organisms.md").read_text()
    line = next(x for x in md.splitlines() if x.startswith("| neg |"))
    assert line == ("| neg | 0.99 | 1.00 | 0.58 | 0.54 | -0.23 | 0.05 | 0.97 [0.87, 1.00] | 0.21 [0.11, 0.31] | "
                    "0.88 [0.78, 0.98] | 0.60 | 0.10 | 0.76 | 0.83 | 328 |")
    assert read_rows(tmp_path / "organisms.csv")[0]["negonly_heldout_binary_accuracy"] == pytest.approx(0.583)
    assert (tmp_path / "origin_map.png").stat().st_size > 0


def test_table_without_a_sweep_is_one_line_exit_2(tmp_path, capsys):
    assert main(["table", "--out", str(tmp_path / "nothing")]) == 2
    err = capsys.readouterr().err.strip()
    assert err.endswith("organisms.csv: no such file (run the sweep first)") and "\n" not in err
