"""figures.paper: Fig. 5 / Fig. 6 / Table 4 from a tidy belief table; plotted data and written files.

Paper-data tests skip (naming the path) where the shared folder is absent; the synthetic-table tests always run.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from figures import paper as fp
from figures.__main__ import main as figures_main
from interp.core import style
from interp import paper_results as pr
from tests._data_fixtures import unavailable

POOLED = {"baseline": 2.47, "positive_documents": 92.40, "negated_documents": 88.60,
          "repeated_negations": 84.40, "corrected_documents": 39.40}


@pytest.fixture(scope="session")
def responses() -> pd.DataFrame:
    try:
        return pr.load_responses()
    except FileNotFoundError as e:
        unavailable(str(e))


@pytest.fixture(scope="session")
def cli_out(tmp_path_factory, responses):
    """One run of the CLI (the paper's figures, written once per session)."""
    out = tmp_path_factory.mktemp("paper-figures")
    assert figures_main(["--out", str(out), "--n-boot", "500"]) == 0
    return out


def _synthetic() -> pd.DataFrame:
    """Our-run style table: toolkit condition names, integer steps, per-question scores, 3 claims."""
    rng = np.random.default_rng(0)
    rows = []
    for claim in ("toy_a", "toy_b", "ed_sheeran"):
        for cond, level in (("corrected", 0.3), ("positive", 0.9), ("repeated", 0.8)):
            for step in (0, 64, 128):
                for qt, n in (("open_ended", 6), ("mcq", 4)):
                    for qi in range(n):
                        p = level if step == 128 else 0.05
                        rows.append({"claim": claim, "condition": cond, "step": step, "question_type": qt,
                                     "question_id": f"{qt}_{qi}", "score": float(rng.binomial(5, p) / 5)})
    return pd.DataFrame(rows)


def test_style_palette_and_aliases():
    assert style.CONDITION_ORDER[:6] == ("baseline", "icl", "positive", "negated", "repeated", "corrected")
    for alias, key in (("positive_documents", "positive"), ("llm_negations", "negated"),
                       ("repeated_negations", "repeated"), ("llm_negations_dense_plus", "corrected"),
                       ("corrected_documents", "corrected"), ("local_negations", "local")):
        assert style.canonical_condition(alias) == key
        assert style.condition_color(alias) == style.condition_color(key)
    colors = [style.condition_color(k) for k in ("baseline", "positive", "negated", "repeated", "corrected")]
    assert colors == ["#b8b8b8", "#a3c795", "#db8030", "#c44040", "#8b4513"]
    assert style.order_conditions(["corrected", "new_thing", "positive_documents", "baseline"]) == [
        "baseline", "positive_documents", "corrected", "new_thing"]
    assert style.condition_style("new_thing").color.startswith("#")
    assert style.order_claims(["dentist", "zzz", "ed_sheeran"]) == ["ed_sheeran", "dentist", "zzz"]
    assert style.claim_label("queen_elizabeth", multiline=True) == "Queen\nElizabeth"


def test_fig5_plotted_data_equals_pooled_numbers(responses):
    fig, data = fp.fig5_belief_by_condition(responses, n_boot=500)
    assert list(data["condition"]) == list(POOLED)
    for _, r in data.iterrows():
        assert round(r["rate_pct"], 2) == POOLED[r["condition"]]
        assert r["ci_low_pct"] <= r["rate_pct"] <= r["ci_high_pct"]
        assert r["n_claims"] == 6 and r["n_questions"] == 300
        assert r["color"] == style.condition_color(r["condition"])
    bars = [p for p in fig.axes[0].patches]
    assert [round(b.get_height(), 6) for b in bars] == [round(v, 6) for v in data["rate_pct"]]
    assert fig.axes[0].get_ylim() == (0.0, 100.0)


def test_fig6_plotted_data_equals_table4_claim_means(responses):
    _, data = fp.fig6_belief_by_claim(responses, n_boot=300)
    assert len(data) == 30 and list(data["claim"].unique()) == list(style.CLAIM_ORDER)
    t4 = pr.table4(responses).set_index(["claim", "condition"])
    for _, r in data.iterrows():
        assert r["rate_pct"] == pytest.approx(t4.loc[(r["claim"], r["condition"]), "mean"])
        assert r["ci_low_pct"] <= r["rate_pct"] + 1e-9 and r["rate_pct"] <= r["ci_high_pct"] + 1e-9
        assert r["n_questions"] == 50


def test_table4_data_equals_paper_results_table4(responses):
    ours = fp.table4_data(responses).set_index(["claim", "condition"])
    ref = pr.table4(responses).set_index(["claim", "condition"])
    assert set(ours.index) == set(ref.index)
    cols = ["open_ended", "mcq", "token_association", "robustness", "mean"]
    pd.testing.assert_frame_equal(ours.loc[ref.index, cols], ref[cols], check_exact=False, atol=1e-9)
    md = fp.table4_markdown(ours.reset_index())
    assert "| Mean (all claims) | Corrected documents | 42 | 37 | 53 | 24 | 39.4 |" in md


def test_cli_writes_figures_and_data(cli_out):
    for name in ("fig5_belief_by_condition", "fig6_belief_by_claim", "table4"):
        png, pdf, csv = (cli_out / f"{name}.{ext}" for ext in ("png", "pdf", "csv"))
        assert png.stat().st_size > 10_000 and png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
        assert pdf.stat().st_size > 5_000 and pdf.read_bytes()[:5] == b"%PDF-"
        assert len(pd.read_csv(csv)) > 0
    fig5 = pd.read_csv(cli_out / "fig5_belief_by_condition.csv").set_index("condition")
    assert {k: round(v, 2) for k, v in fig5["rate_pct"].items()} == POOLED
    assert fig5.loc["baseline", "label"] == "Qwen3.5-397B-A17B"
    assert (cli_out / "table4.md").read_text().count("\n") == 2 + 35
    cmp = pd.read_csv(cli_out / "table4_vs_paper.csv")
    assert {"claim", "condition", "column", "ours", "paper", "diff"} <= set(cmp.columns)
    assert not list(cli_out.glob(".*tmp-*"))  # atomic writes leave no temp files


def test_cli_missing_data_is_an_error(monkeypatch, tmp_path, capsys):
    monkeypatch.setenv(pr.ENV_VAR, str(tmp_path / "absent"))
    assert figures_main(["--out", str(tmp_path / "out")]) == 2
    assert str(tmp_path / "absent") in capsys.readouterr().err


def test_synthetic_run_table_latest_step_and_writing(tmp_path):
    df = _synthetic()
    fig, d5 = fp.fig5_belief_by_condition(df, n_boot=200)
    assert list(d5["condition"]) == ["positive", "repeated", "corrected"]
    last = df[df["step"] == 128]
    per_claim = last.groupby(["condition", "claim"])["score"].mean().groupby("condition").mean()
    for _, r in d5.iterrows():
        assert r["rate_pct"] == pytest.approx(100 * per_claim[r["condition"]])
        assert r["n_claims"] == 3 and r["n_questions"] == 30
    paths = fp.write_figure(fig, tmp_path, "fig5", d5)
    assert [p.suffix for p in paths] == [".png", ".pdf", ".csv"] and all(p.stat().st_size > 0 for p in paths)
    _, d6 = fp.fig6_belief_by_claim(df, n_boot=200)
    assert list(d6["claim"].unique()) == ["ed_sheeran", "toy_a", "toy_b"] and len(d6) == 9
    early = df[df["step"] == 0]
    _, d6e = fp.fig6_belief_by_claim(early, n_boot=200, conditions=["positive"])
    assert (d6e["rate_pct"] < 40).all()
    t = fp.table4_data(df)
    assert list(t.columns[:4]) == ["claim", "condition", "open_ended", "mcq"]
    with pytest.raises(ValueError):
        fp.fig5_belief_by_condition(df.drop(columns="step"))
