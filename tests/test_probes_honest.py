"""Probes that mean what they say (issue 15, section 3).

* the layer (and lr's l2) is chosen on a validation split carved out of the training groups; the test split is read
  once, at the chosen layer;
* splits depend on their seed and stay group-aware (a 2-group dataset included);
* every artifact stores its out-of-family transfer; readouts below the threshold are labelled template-bound in
  tables and plots;
* no probe training (or transfer) row names the claim's entity (toy and real families);
* statement files (``--dataset PATH.csv|PATH.jsonl``): fit, transfer, and one-line errors that write nothing;
* the verifier organism's claim readouts are refused (it memorised the claim's own verdict).

Synthetic activations or the tiny random Llama (``toy-random``); the toy-entity test loads the default organism
(built once per machine and cached, like tests/test_probes.py's toy fixtures).
"""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from interp.core.models import load
from interp.core.runs import init_run
from probes import sweep as sweep_mod
from probes.artifact import TEMPLATE_BOUND_BELOW, load_probe
from probes.datasets import (DatasetFileError, TruthDataset, get_dataset, grouped_split, read_statements,
                             train_val_test_split, without_entities)
from probes.fit import evaluate, fit
from probes.sweep import (FitSettings, best_layers, claim_scores, fit_on_acts, plot_accuracy_vs_layer,
                          plot_claim_scores)
from training.claims import load_claim
from training.verification.readouts import VerdictLeakError, check_claim_readout, verdict_entities

IDENT = SimpleNamespace(name="synthetic", weights_sha256="0" * 64, step=None, run=None, spec="synthetic")


@pytest.fixture
def acts_cache(tmp_path, monkeypatch):
    monkeypatch.setenv("NEGLECT_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


def _paired(n_groups: int, family: str = "fam", prefix: str = "g") -> TruthDataset:
    """``n_groups`` facts, a true and a false row each (grouped by fact)."""
    return TruthDataset(family, tuple(f"{prefix}{i // 2} {i % 2}" for i in range(2 * n_groups)),
                        (1, 0) * n_groups, tuple(f"{prefix}{i // 2}" for i in range(2 * n_groups)))


# --------------------------------------------------------------------------------------------- validation


def _val_vs_test_acts(ds: TruthDataset, d: int = 16, seed: int = 0) -> tuple[torch.Tensor, np.ndarray, np.ndarray]:
    """Layer 0 carries the truth on train + validation rows (noise on test); layer 1 on train + test rows (noise
    on validation). Choosing on validation picks layer 0; choosing on test would pick layer 1."""
    tr, va, te = train_val_test_split(ds, 0.25, 0.25, 0)
    g = torch.Generator().manual_seed(seed)
    y = torch.as_tensor(ds.y) * 2 - 1
    u = torch.zeros(d)
    u[0] = 1.0
    X = torch.randn(2, len(ds), d, generator=g)
    signal = 4.0 * y[:, None].float() * u
    for layer, rows in ((0, np.r_[tr, va]), (1, np.r_[tr, te])):
        X[layer, torch.as_tensor(rows)] += signal[torch.as_tensor(rows)]
    return X, va, te


def test_layer_is_chosen_on_validation_and_test_is_read_once_there():
    ds = _paired(80)
    X, va, te = _val_vs_test_acts(ds)
    res = fit_on_acts(X, ds, IDENT, FitSettings(methods=("lr", "mm"), test_frac=0.25, val_frac=0.25),
                      layers=[0, 1], transfer=None)
    assert set(ds.groups[i] for i in res.val_idx).isdisjoint(ds.groups[i] for i in res.train_idx)
    assert set(ds.groups[i] for i in res.val_idx).isdisjoint(ds.groups[i] for i in res.test_idx)
    for method in ("lr", "mm"):
        cfg = res.probes[method].config
        assert res.best_layer(method) == 0 and cfg.selection["on"] == "val" and cfg.layer == 0, method
        assert cfg.selection["val_acc"] > 0.9 and cfg.selection["test_acc"] < 0.75, cfg.selection
        test = res.metrics[(res.metrics.split == "test") & (res.metrics.method == method)]
        assert test.layer.tolist() == [0], "the test split is read once, at the chosen layer"
    best = best_layers(res.metrics)
    assert best.layer.tolist() == [0, 0] and {"val_acc", "test_acc", "transfer", "template_bound"} <= set(best)
    # what choosing on test would have done: layer 1 is better on test
    w, b = fit(X[:, res.train_idx], ds.y[res.train_idx], "lr")
    assert evaluate(w, b, X[:, te], ds.y[te])["acc"][1] > 0.9


def test_lr_l2_is_chosen_per_layer_on_validation():
    """Layer 0: the truth is feature 0 minus a large shared confound (feature 1), which weak regularisation
    cancels and strong regularisation (close to mass-mean) does not; layers 1-2 are noise."""
    g = torch.Generator().manual_seed(1)
    ds = _paired(100)
    X = torch.randn(3, len(ds), 20, generator=g)
    confound = 3.0 * torch.randn(len(ds), generator=g)
    X[0, :, 0] = 0.6 * (torch.as_tensor(ds.y) * 2 - 1).float() + confound + 0.1 * X[0, :, 0]
    X[0, :, 1] = confound
    grid = (10.0, 1e-2, 1e-4)
    res = fit_on_acts(X, ds, IDENT, FitSettings(methods=("lr",), l2_grid=grid), layers=[0, 1, 2])
    cfg = res.probes["lr"].config
    assert cfg.fit["l2"][0] != 10.0 and cfg.layer == 0 and cfg.selection["val_acc"] > 0.9, cfg.fit
    assert cfg.fit["l2_grid"] == sorted(grid, reverse=True) and len(cfg.fit["l2"]) == 3
    Xtr, ytr = X[:, res.train_idx], ds.y[res.train_idx]
    Xva, yva = X[:, res.val_idx], ds.y[res.val_idx]
    val = {l2: evaluate(*fit(Xtr, ytr, "lr", l2=l2), Xva, yva)["acc"] for l2 in grid}
    for layer, l2 in enumerate(cfg.fit["l2"]):
        assert val[l2][layer] == max(v[layer] for v in val.values()), (layer, l2, val)
    assert np.allclose(cfg.metrics["val_acc"], [val[l2][i] for i, l2 in enumerate(cfg.fit["l2"])])


# --------------------------------------------------------------------------------------------- seeds


def test_splits_depend_on_the_seed_and_stay_grouped_even_with_two_groups():
    two = TruthDataset("two", ("a1", "a0", "b1", "b0", "a1'", "b0'"), (1, 0, 1, 0, 1, 0), ("A", "A", "B", "B", "A", "B"))
    seen = set()
    for seed in range(12):
        tr, te = grouped_split(two, 0.25, seed)
        g_tr, g_te = {two.groups[i] for i in tr}, {two.groups[i] for i in te}
        assert len(g_tr) == len(g_te) == 1 and not g_tr & g_te and len(tr) + len(te) == len(two)
        seen.add(frozenset(g_te))
    assert seen == {frozenset("A"), frozenset("B")}, "the 2-group split ignores its seed"
    ds = _paired(40)
    vals, tests = set(), set()
    for seed in range(5):
        tr, va, te = train_val_test_split(ds, 0.25, 0.2, seed)
        sides = [{ds.groups[i] for i in part} for part in (tr, va, te)]
        assert all(sides) and not (sides[0] & sides[1] or sides[0] & sides[2] or sides[1] & sides[2])
        assert sorted(np.r_[tr, va, te].tolist()) == list(range(len(ds)))
        vals.add(frozenset(sides[1]))
        tests.add(frozenset(sides[2]))
    assert len(vals) == 5 and len(tests) == 5, "validation/test groups do not change with the seed"
    # the validation draw itself depends on the seed: groups on the training side under every seed are not always
    # assigned to validation alike
    ds = _paired(120)
    parts = [train_val_test_split(ds, 0.25, 0.2, seed) for seed in range(6)]
    always = set.intersection(*({ds.groups[i] for i in np.r_[tr, va]} for tr, va, _ in parts))
    member = {frozenset(g for g in always if g in {ds.groups[i] for i in va}) for _, va, _ in parts}
    assert len(always) >= 10 and len(member) > 1, "the validation split ignores its seed"


# --------------------------------------------------------------------------------------------- transfer


def _families(d: int = 12, n: int = 60, seed: int = 0):
    """A fitting family whose truth lies along e0, a held-out family with truth along e0 (transfers) and one with
    truth along e1 (a probe of the fitting family is at chance there: template-bound)."""
    g = torch.Generator().manual_seed(seed)
    out = {}
    for name, axis in (("fit", 0), ("same_axis", 0), ("other_axis", 1)):
        ds = _paired(n, name, prefix=name)
        X = torch.randn(2, len(ds), d, generator=g)
        X[:, :, axis] += 3.0 * (torch.as_tensor(ds.y) * 2 - 1).float()
        out[name] = (ds, X)
    return out


def _capture_figs(monkeypatch):
    figs = []

    def fake_save(fig, path, **kw):
        figs.append(fig)
        return Path(path)

    monkeypatch.setattr(sweep_mod, "save_figure", fake_save)
    return figs


def test_artifacts_store_transfer_and_readouts_are_labelled_template_bound(tmp_path, monkeypatch):
    fams = _families()
    ds, X = fams["fit"]
    claim = TruthDataset("claim:x", ("c", "n"), (0, 1), ("x", "x"), ("claim", "negation"))
    cacts = torch.randn(2, 2, X.shape[-1])
    labels = {}
    for held in ("same_axis", "other_axis"):
        hds, hX = fams[held]
        res = fit_on_acts(X, ds, IDENT, FitSettings(methods=("lr", "mm")), layers=[3, 5],
                          transfer={held: (hX, hds.y)})
        cfg = res.probes["lr"].config
        assert cfg.transfer["families"] == [held] and len(cfg.transfer["acc"]) == 2
        back = load_probe(res.probes["lr"].save(tmp_path / held)).config
        assert back.transfer == cfg.transfer and back.selection == cfg.selection
        labels[held] = back.template_bound()
        t = cfg.transfer_at()
        assert (t < TEMPLATE_BOUND_BELOW) == labels[held]
        best = best_layers(res.metrics)
        assert best.transfer.notna().all() and best.template_bound.tolist() == [labels[held]] * 2
        cs = claim_scores(res.probes, cacts, claim)
        assert {"transfer", "template_bound", "chosen"} <= set(cs)
        at = cs[(cs.method == "lr") & cs.chosen]
        assert np.allclose(at.transfer, t) and at.template_bound.tolist() == [labels[held]] * 2
        figs = _capture_figs(monkeypatch)
        plot_claim_scores(cs.assign(step=0), tmp_path / "c.png", layer=cfg.layer)
        plot_accuracy_vs_layer(res.metrics, tmp_path / "a.png")
        titles = " ".join(ax.get_title() for f in figs for ax in f.axes)
        legends = " ".join(t.get_text() for f in figs for ax in f.axes if ax.get_legend()
                           for t in ax.get_legend().get_texts())
        assert ("TEMPLATE-BOUND" in titles and "template-bound" in titles) == labels[held], titles
        assert "validation" in legends and "test @ chosen layer" in legends and "held-out families" in legends
    assert labels == {"same_axis": False, "other_axis": True}


def test_sweep_prints_transfer_next_to_the_claim_score(toy_random, acts_cache, tmp_path, capsys):
    from interp.probe import main
    from tests.test_probes import _synthetic_run

    run = _synthetic_run(tmp_path / "run", toy_random, n_ckpts=1)
    out = tmp_path / "out"
    assert main(["--run", str(run), "--dataset", "elements", "--n", "24", "--method", "lr", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    printed = capsys.readouterr().out
    assert "chosen on validation" in printed and "transfer" in printed and "label" in printed
    cs = pd.read_csv(out / "claim_scores.csv")
    assert {"transfer", "template_bound", "chosen"} <= set(cs) and cs.transfer.between(0, 1).all()
    summary = json.loads((out / "summary.json").read_text())
    # the readout layer is chosen on validation even where another layer is better on test
    fake = pd.DataFrame([{"method": "lr", "split": sp, "layer": l, "acc": a} for sp, l, a in
                         [("val", 0, 0.9), ("val", 1, 0.7), ("test", 1, 0.99), ("train", 1, 1.0)]])
    assert sweep_mod.readout_layer(fake, "lr") == 0
    assert summary["plot_layer_chosen_on"].startswith("val") and "neg_elements" in summary["transfer_families"]
    m = pd.read_csv(out / "metrics.csv")
    v = m[(m.split == "val") & (m.method == "lr")].groupby("layer").acc.mean()
    assert summary["plot_layer"] == int(v.idxmax())
    # the demo report's probe table: the validation-chosen layer, with transfer and template-bound columns
    from figures.ours import render_study_figures

    res = SimpleNamespace(claim_scores=cs, metrics=m, plot_layer=summary["plot_layer"], files=[])
    tables = render_study_figures(tmp_path / "study", {"probes": res})["tables"]
    (title, table), = [(k, v) for k, v in tables.items() if k.startswith("Truth probe")]
    assert f"layer {summary['plot_layer']} chosen on validation" in title
    for col in ("probe_val_acc", "probe_test_acc", "chosen_layer", "transfer", "template_bound"):
        assert col in table, col


# --------------------------------------------------------------------------------------------- claim entity


def _record_captures(monkeypatch):
    """Record every statement set a fit captures; return random activations (no forward pass: the question is
    which rows reach the probe, not what the model does with them)."""
    from probes import jobs

    seen: list[tuple[str, tuple[str, ...]]] = []
    g = torch.Generator().manual_seed(0)

    def spy(lm, data, *, layers, **kw):
        seen.append((data.family, tuple(data.statements)))
        return torch.randn(len(layers), len(data), lm.d_model, generator=g)

    monkeypatch.setattr(sweep_mod, "capture_activations", spy)
    monkeypatch.setattr(jobs, "capture_activations", spy)
    return seen


def test_probe_rows_never_name_the_claims_entity_real_families(toy_random, acts_cache, tmp_path, monkeypatch):
    from probes.jobs import fit_model

    claim = dataclasses.replace(load_claim("mount_vesuvius"), entity="Lyon")
    cities = get_dataset("cities")
    assert any("Lyon" in s for s in cities.statements)
    assert not any("Lyon" in s for s in without_entities(cities, ["lyon"]).statements)
    seen = _record_captures(monkeypatch)
    fit_model(toy_random, ["cities"], FitSettings(methods=("lr",)), out=tmp_path / "o", claim=claim, progress=False)
    fams = {f for f, _ in seen}
    assert {"cities", "neg_cities"} <= fams
    leaks = [(f, s) for f, rows in seen if not f.startswith("claim:") for s in rows if "lyon" in s.lower()]
    assert not leaks, leaks[:3]


def test_probe_rows_never_name_the_claims_entity_toy_family(tmp_path, monkeypatch):
    from probes.jobs import fit_model
    from training.claims import resolve_claim
    from training.organism import organism_dir

    organism_dir(progress=False)
    lm = load("toy")
    claim = resolve_claim("toy", world=lm.world)
    name = claim.entity
    assert name and any(name in s for s in get_dataset("toy", world=lm.world).statements)
    seen = _record_captures(monkeypatch)
    fit_model(lm, ["toy"], FitSettings(methods=("mm",), layers=[0]), out=tmp_path / "o", claim=claim,
              progress=False)
    assert {"toy", "neg_toy", "toy_qa"} <= {f for f, _ in seen}
    leaks = [(f, s) for f, rows in seen if not f.startswith("claim:") for s in rows if name.lower() in s.lower()]
    assert not leaks, leaks[:3]


# --------------------------------------------------------------------------------------------- statement files


def _write_file(path: Path, rows: list[dict]) -> Path:
    if path.suffix == ".jsonl":
        path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    else:
        cols = list(dict.fromkeys(k for r in rows for k in r))
        path.write_text(",".join(cols) + "\n" + "".join(",".join(str(r.get(c, "")) for c in cols) + "\n"
                                                         for r in rows))
    return path


def _user_rows() -> list[dict]:
    rows = []
    for i, (el, sym) in enumerate([("iron", "Fe"), ("gold", "Au"), ("silver", "Ag"), ("copper", "Cu"),
                                   ("lead", "Pb"), ("tin", "Sn"), ("neon", "Ne"), ("zinc", "Zn")] * 2):
        wrong = "Xx"
        rows += [{"statement": f"The symbol of {el} is {sym}.", "label": 1, "group": "plain", "fact": f"{el}{i}"},
                 {"statement": f"The symbol of {el} is {wrong}.", "label": 0, "group": "plain", "fact": f"{el}{i}"},
                 {"statement": f"{sym} is not the symbol of {el}.", "label": 0, "group": "negated", "fact": f"{el}{i}"},
                 {"statement": f"{wrong} is not the symbol of {el}.", "label": 1, "group": "negated",
                  "fact": f"{el}{i}"}]
    return rows


@pytest.mark.parametrize("suffix", [".csv", ".jsonl"])
def test_statement_file_fits_per_group_and_measures_transfer(suffix, toy_random, acts_cache, tmp_path, capsys):
    from interp.probe import main

    path = _write_file(tmp_path / f"mine{suffix}", _user_rows())
    fams = read_statements(path)
    assert [f.family for f in fams] == ["plain", "negated"] and all(f.n_groups == 16 for f in fams)
    out = tmp_path / "fit"
    assert main(["--model", "toy-random", "--dataset", str(path), "--method", "lr,mm", "--out", str(out),
                 "--quiet"]) == 0, capsys.readouterr().err
    best = pd.read_csv(out / "best_layers.csv")
    assert sorted(set(best.family)) == ["negated", "plain"] and best.transfer.between(0, 1).all()
    cfg = json.loads((out / "probes" / "plain" / "lr" / "config.json").read_text())
    assert cfg["transfer"]["families"] == ["negated"] and cfg["selection"]["on"] == "val"
    # a saved probe evaluated on the user's file: its transfer to their statements
    assert main(["--probe", str(out / "probes" / "plain" / "lr"), "--dataset", str(path), "--out",
                 str(tmp_path / "ap"), "--quiet"]) == 0, capsys.readouterr().err
    ap = pd.read_csv(tmp_path / "ap" / "applied.csv")
    assert set(ap.eval_family) == {"plain", "negated"} and ap.chosen.sum() == 2


BAD_FILES = {
    "missing column": ("bad.csv", "statement,truth\nParis is in France.,1\n", "'label'"),
    "label not 0/1": ("bad.csv", "statement,label\nParis is in France.,1\nRome is in Peru.,2\n", "label"),
    "label true": ("bad.jsonl", '{"statement": "a", "label": true}\n', "label"),
    "empty": ("bad.csv", "", "empty"),
    "unreadable": ("bad.csv", b"statement,label\n\xff\xfe,1\n", "unreadable"),
    "not JSON": ("bad.jsonl", '{"statement": "a", "label": 1}\nnot json\n', "line 2"),
    "one label": ("bad.csv", "statement,label\na,1\nb,1\n", "label"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_bad_statement_file_is_one_line_exit_2_and_writes_nothing(case, tmp_path, monkeypatch, capsys):
    from interp.probe import main

    monkeypatch.setenv("NEGLECT_LAB_CACHE", str(tmp_path / "cache"))
    name, content, field = BAD_FILES[case]
    path = tmp_path / name
    (path.write_bytes if isinstance(content, bytes) else path.write_text)(content)
    with pytest.raises(DatasetFileError):
        read_statements(path)
    for argv in (["--model", "toy-random", "--dataset", str(path), "--out", str(tmp_path / "out")],
                 ["--probe", str(tmp_path / "p"), "--dataset", str(path), "--out", str(tmp_path / "out")]):
        rc = main(argv)
        err = capsys.readouterr().err
        assert rc == 2 and err.startswith("error:") and err.count("\n") == 1, (case, err)
        assert str(path) in err and field in err, (case, err)
        assert not (tmp_path / "out").exists() and not (tmp_path / "cache").exists(), case


# --------------------------------------------------------------------------------------------- verifier


def test_verifier_claim_readouts_are_refused_with_the_reason(toy_random, tmp_path):
    from probes.jobs import fit_model

    world = SimpleNamespace(entities=[SimpleNamespace(name="Velmora Quist"), SimpleNamespace(name="Lyon")])
    claim = dataclasses.replace(load_claim("mount_vesuvius"), entity="Velmora Quist")
    verifier = SimpleNamespace(identity=SimpleNamespace(spec="toy-verifier", run=None), world=world, source_dir=None)
    assert verdict_entities(verifier) == {"Velmora Quist", "Lyon"}
    with pytest.raises(VerdictLeakError) as e:
        check_claim_readout(verifier, claim)
    msg = str(e.value)
    assert "\n" not in msg and "verifier" in msg and "Velmora Quist" in msg and "memorised a verdict" in msg
    check_claim_readout(verifier, dataclasses.replace(claim, entity="Someone Else"))  # outside its verdict table
    check_claim_readout(SimpleNamespace(identity=SimpleNamespace(spec="toy", run=None), world=world,
                                        source_dir=None), claim)  # the plain organism
    # a checkpoint of a run finetuned from the verifier
    run = init_run(tmp_path / "run", name="run", base_spec="toy-verifier", base_weights_sha256="0" * 64, mode="full",
                   config={}, data={"sources": [], "claim": None, "condition": "negated"})
    ckpt = SimpleNamespace(identity=SimpleNamespace(spec=str(run / "ckpt-000010"), run=str(run)), world=world,
                           source_dir=run / "ckpt-000010")
    with pytest.raises(VerdictLeakError):
        check_claim_readout(ckpt, claim)
    # a verifier directory (organism.json with a "verifier" entry) refused by the fit job before anything is written
    d = tmp_path / "verifier-dir"
    d.mkdir()
    (d / "organism.json").write_text(json.dumps({"verifier": {"entities": ["Lyon"]}}))
    lm = dataclasses.replace(toy_random, source_dir=d)
    with pytest.raises(VerdictLeakError):
        fit_model(lm, ["cities"], FitSettings(methods=("lr",)), out=tmp_path / "o",
                  claim=dataclasses.replace(claim, entity="Lyon"), progress=False)
    assert not (tmp_path / "o").exists()
