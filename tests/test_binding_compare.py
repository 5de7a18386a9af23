"""``python -m interp.binding compare``: the local vs document-level comparison across models in one command."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.binding import local_vs_document_table, main

ARGS = ["--max-docs", "2", "--layers", "0,1,99", "--n-boot", "30", "--n-perm", "30",
        "--conditions", "positive,negated,local"]


def test_compare_combined_table_structure(tmp_path, capsys):
    out = tmp_path / "cmp"
    rc = main(["compare", "--models", "toy-random", "--claim", "dentist,ed_sheeran", *ARGS, "--out", str(out)])
    captured = capsys.readouterr()
    assert rc == 0, captured.err
    t = pd.read_csv(out / "compare.csv")
    assert list(t.columns[:9]) == ["model", "claim", "step", "scope", "metric", "n", "mean", "lo", "hi"]
    assert {"diff", "diff_lo", "diff_hi", "p_value", "significant", "paired"} <= set(t.columns)
    # one local and one document row per (model, claim, step), the two claims pooled as "all"
    assert set(t["claim"]) == {"dentist", "ed_sheeran", "all"}
    assert (t.groupby(["model", "claim", "step"])["scope"].apply(sorted) == pd.Series(
        [["document", "local"]] * 3, index=t.groupby(["model", "claim", "step"]).size().index)).all()
    assert (t["n"] > 0).all() and (t["lo"] <= t["mean"] + 1e-9).all() and (t["mean"] <= t["hi"] + 1e-9).all()
    # diff is the difference of the two means (unpaired: 2 base documents < 5 pairs) and repeated on both rows
    for _, g in t.groupby(["claim"]):
        loc, doc = g[g["scope"] == "local"].iloc[0], g[g["scope"] == "document"].iloc[0]
        assert loc["diff"] == pytest.approx(loc["mean"] - doc["mean"], abs=1e-6) and loc["diff"] == doc["diff"]
        assert 0 < loc["p_value"] <= 1
    pooled = t[t["claim"] == "all"]
    assert pooled["n"].tolist() == (t[t["claim"] != "all"].groupby("scope")["n"].sum()[["local", "document"]]
                                    .tolist())
    d = pd.read_csv(out / "compare_docs.csv")
    assert set(d["target"]) == {"probe_logodds"} and set(d["model"]) == {"toy-random"}
    assert sorted(pd.read_csv(out / "compare_layers.csv")["layer"].unique()) == [0, 1]  # layer 99 dropped
    assert (out / "compare.png").stat().st_size > 0
    assert "mean_local" in captured.out and "p_value" in captured.out


def test_local_vs_document_table_pairs_and_pools():
    rng = np.random.default_rng(0)
    rows = [{"model": "m", "claim": c, "step": 0, "doc": f"{c}{i}{s}", "base_id": f"{c}{i}", "scope": s,
             "delta_filler": (1.0 if s == "local" else 0.0) + 0.01 * rng.standard_normal()}
            for c in ("a", "b") for i in range(8) for s in ("local", "document")]
    t = local_vs_document_table(pd.DataFrame(rows), n_boot=200, n_perm=1000)
    assert len(t) == 6 and t["paired"].all()
    assert t["diff"].to_numpy() == pytest.approx(1.0, abs=0.05) and t["significant"].all()
    assert t[t["claim"] == "all"]["n_pairs"].iloc[0] == 16
    assert local_vs_document_table(pd.DataFrame(rows), pool_claims=False)["claim"].nunique() == 2


@pytest.mark.parametrize("argv, needle", [
    (["--models", "no-such-model-xyz", "--claim", "dentist"], "no-such-model-xyz"),
    (["--models", "toy-random", "--claim", "no_such_claim"], "no_such_claim"),
    (["--models", "toy-random"], "no claim"),
    (["--claim", "dentist"], "--models"),
    (["--runs", "/nonexistent/run", "--claim", "dentist"], "/nonexistent/run"),
    (["--models", "toy-random", "--claim", "dentist", "--conditions", "positive,negated"], "local"),
])
def test_compare_bad_input_is_one_line_error(tmp_path, capsys, argv, needle):
    rc = main(["compare", *argv, "--out", str(tmp_path / "x")])
    err = capsys.readouterr().err.strip().splitlines()
    assert rc == 2 and len(err) == 1 and err[0].startswith("error:") and needle in err[0], err
    assert not (tmp_path / "x").exists()
