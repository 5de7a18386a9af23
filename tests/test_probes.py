"""Truth probes: grouped splits, all-layer fits (vs sklearn), capture cache, artifacts, identity refusal, run sweep.

Fast tests use synthetic activations or the tiny random Llama (``toy-random``) with activations cached in a tmp
directory. The toy-organism tests build the default organism on first use (cached, so once per machine); the
SmolLM2 test is slow.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from interp.core.models import load, weights_sha256
from interp.core.runs import init_run, write_checkpoint
from probes.artifact import FORMAT_VERSION, ProbeConfig, ProbeError, ProbeIdentityError, load_probe
from probes.capture import capture_activations
from probes.datasets import (REAL_FAMILIES, TruthDataset, claim_dataset, get_dataset, group_kfold, grouped_split,
                             toy_family)
from probes.fit import evaluate, fit
from probes.sweep import FitSettings, fit_probes


@pytest.fixture
def acts_cache(tmp_path, monkeypatch):
    """Activations (and the toy-random tokenizer) cached under a tmp root for this test."""
    monkeypatch.setenv("NEGLECT_LAB_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


# --------------------------------------------------------------------------------------------- datasets


def test_families_are_balanced_paired_and_hashed():
    for name, build in REAL_FAMILIES.items():
        ds = build(n=30)
        assert len(ds) >= 60 and ds.n_groups == 30, name
        assert sum(ds.labels) * 2 == len(ds), name  # one true + one false row per fact
        assert build(n=30).hash == ds.hash and build(n=31).hash != ds.hash
    cities, neg = get_dataset("cities", n=50), get_dataset("neg_cities", n=50)
    assert cities.groups == neg.groups and all(a != b for a, b in zip(cities.labels, neg.labels))
    assert "is not in" in neg.statements[0] and "is not in" not in cities.statements[0]
    assert len(get_dataset("cities")) >= 600 and len(get_dataset("larger_than")) >= 800
    assert TruthDataset.from_dict(cities.to_dict()) == cities


def test_grouped_split_keeps_each_group_on_one_side():
    ds = get_dataset("cities")
    tr, te = grouped_split(ds, test_frac=0.25, seed=0)
    g_tr, g_te = {ds.groups[i] for i in tr}, {ds.groups[i] for i in te}
    assert not g_tr & g_te and len(tr) + len(te) == len(ds)
    assert 0.15 < len(te) / len(ds) < 0.35
    # a key lands on the same side in every family that has it (cross-family transfer never tests on train facts)
    neg = get_dataset("neg_cities")
    assert np.array_equal(grouped_split(neg, 0.25, 0)[1], te)
    folds = list(group_kfold(ds, k=4))
    assert sorted(np.concatenate([f[1] for f in folds]).tolist()) == list(range(len(ds)))
    for ftr, fte in folds:
        assert not {ds.groups[i] for i in ftr} & {ds.groups[i] for i in fte}


def test_row_split_of_paired_facts_is_below_chance_but_grouped_is_not():
    """Why splits are by group: a fact's true and false statements look alike; split by row, a probe memorises the
    fact from one row and is wrong on its partner (below chance). Split by group, it is at chance, as it should be
    on data with no truth signal."""
    g = torch.Generator().manual_seed(0)
    n_facts, d = 120, 256
    fact_vec = torch.randn(n_facts, d, generator=g)
    X = (fact_vec.repeat_interleave(2, 0) + 0.1 * torch.randn(2 * n_facts, d, generator=g))[None]
    ds = TruthDataset("paired", tuple(map(str, range(2 * n_facts))), (1, 0) * n_facts,
                      tuple(str(i // 2) for i in range(2 * n_facts)))
    perm = torch.randperm(2 * n_facts, generator=g).numpy()
    splits = {"row": (perm[:n_facts], perm[n_facts:]), "group": grouped_split(ds, 0.5, 0)}
    acc = {}
    for name, (tr, te) in splits.items():
        w, b = fit(X[:, tr], ds.y[tr], "lr")
        acc[name] = evaluate(w, b, X[:, te], ds.y[te])["acc"][0]
    assert acc["row"] < 0.4 and abs(acc["group"] - 0.5) < 0.15, acc


def test_claim_dataset_roles():
    from training.claims import load_claim

    spec = load_claim("mount_vesuvius")
    ds = claim_dataset(spec)
    roles = dict(zip(ds.statements, ds.tags))
    assert roles[spec.statement] == "claim" and set(ds.tags) == {"claim", "paraphrase", "negation", "truth"}
    assert all(l == (t in ("negation", "truth")) for l, t in zip(ds.labels, ds.tags))
    assert not any("[[" in s for s in ds.statements) and ds.n_groups == 1
    both = get_dataset("claim:mount_vesuvius,dentist")
    assert both.n_groups == 2 and len(grouped_split(both, 0.5)[1]) > 0


# --------------------------------------------------------------------------------------------- fitting


def _planted(n=400, d=32, layers=3, seed=0):
    """Layer 2 carries a truth direction (plus a large nuisance direction); layers 0-1 are noise."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    X = torch.randn(layers, n, d, generator=g) * torch.linspace(0.5, 3, d) + 4.0
    X[:, :, 0] += 20 * torch.randn(n, generator=g)  # nuisance: high variance, no label information
    u = torch.randn(d, generator=g)
    X[2] += 1.5 * (2 * y[:, None] - 1) * u / u.norm() * 3
    ds = TruthDataset("planted", tuple(map(str, range(n))), tuple(y.tolist()), tuple(str(i // 2) for i in range(n)))
    return X, ds


def test_all_layer_fit_finds_planted_direction_and_random_stays_near_chance():
    X, ds = _planted()
    tr, te = grouped_split(ds, 0.25, 0)
    for method in ("lr", "mm", "lda"):
        w, b = fit(X[:, tr], ds.y[tr], method)
        m = evaluate(w, b, X[:, te], ds.y[te])
        assert m["acc"][2] >= 0.95 and m["auc"][2] >= 0.98, method
        assert abs(m["acc"][0] - 0.5) < 0.15, method
    w, b = fit(X[:, tr], ds.y[tr], "random", k_random=32)
    m = evaluate(w, b, X[:, te], ds.y[te])
    assert w.shape == (3, 32, 32) and (np.abs(m["acc"] - 0.5) < 0.15).all()


def test_lr_matches_sklearn():
    from sklearn.linear_model import LogisticRegression

    X, ds = _planted(n=300, d=24)
    y, l2 = ds.y, 1e-2
    w, b = fit(X, y, "lr", l2=l2)
    for layer in range(3):
        mu, sd = X[layer].mean(0), X[layer].std(0)
        clf = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-8, max_iter=5000).fit(((X[layer] - mu) / sd).numpy(), y)
        w_sk = torch.tensor(clf.coef_[0], dtype=torch.float32) / sd
        cos = torch.nn.functional.cosine_similarity(w[layer, 0], w_sk, dim=0)
        assert cos > 0.999, (layer, float(cos))
        ours = (X[layer] @ w[layer, 0] + b[layer, 0] > 0).numpy().astype(int)
        assert (ours == clf.predict(((X[layer] - mu) / sd).numpy())).mean() >= 0.99


def _correlated(n=400, d=160, layers=3, seed=1):
    """Residual-stream-like features: a decaying spectrum (a few huge directions), large feature means, and a
    weak label signal spread over many directions, so the Hessian is ill-conditioned and the solve is not easy."""
    g = torch.Generator().manual_seed(seed)
    y = torch.randint(0, 2, (n,), generator=g)
    basis = torch.linalg.qr(torch.randn(d, d, generator=g))[0]
    scales = 30.0 * torch.arange(1, d + 1, dtype=torch.float32) ** -1.2
    X = (torch.randn(layers, n, d, generator=g) * scales) @ basis.T + 50 * torch.randn(d, generator=g)
    X += 0.4 * (2 * y[:, None] - 1).float() * torch.randn(layers, 1, d, generator=g)
    return X, y


@pytest.mark.parametrize("rank", [0, 32, 10_000])  # plain L-BFGS; low-rank block (d=160 > 4·32); Newton
def test_lr_solver_variants_reach_sklearns_optimum(rank):
    """Every solver path stops on sklearn's rule (max |grad| < tol) at sklearn's solution, on data where the
    preconditioner matters (d > rank, feature means >> spread, Gram spectrum over 3+ decades)."""
    from sklearn.linear_model import LogisticRegression

    from probes.fit import fit_lr

    X, y = _correlated()
    l2 = 1e-2
    info: dict = {}
    w, b = fit_lr(X, y, l2=l2, rank=rank, tol=1e-6, info=info)
    assert all(i > 0 for i in info["iterations"]) and max(info["max_grad"]) < 1e-6, info
    for layer in range(X.shape[0]):
        Xl = X[layer].double()
        mu, sd = Xl.mean(0), Xl.std(0)
        clf = LogisticRegression(C=1 / (l2 * len(y)), tol=1e-10, max_iter=20_000).fit(((Xl - mu) / sd).numpy(), y)
        w_sk = torch.tensor(clf.coef_[0]) / sd
        b_sk = clf.intercept_[0] - float((w_sk * mu).sum())
        rel = float((w[layer, 0].double() - w_sk).norm() / w_sk.norm())
        assert rel < 1e-3, (rank, layer, rel)  # exact: ~2e-5; the same fit with l2 off by 5%: ~8e-3
        assert abs(float(b[layer, 0]) - b_sk) < 1e-2 * (1 + abs(b_sk)), (rank, layer)


@pytest.mark.parametrize("rank", [0, 32])
def test_lr_reported_gradient_is_the_exact_gradient(rank):
    """The solver reuses each iteration's fused pass (Ẑp, then the gradient at the unit step; a layer whose line
    search backtracked gets its gradient redone): the gradient it stops on and reports must be the float64
    gradient at the θ it returns, after every number of iterations (plain L-BFGS backtracks early on these
    data), and below ``tol`` at convergence."""
    from probes.fit import _column_stats, _lr_rank, _lr_solve, _Standardized, cpu_threads

    X, y = _correlated()
    n, d = X.shape[1:]
    l2, tol = 1e-2, 1e-6
    mu, sd, row_sq, Zb = _column_stats(X, lowp=0 < _lr_rank(rank, n, d) < d)
    Zs = (X.double() - mu.double()[:, None]) / sd.double()[:, None]  # standardized, float64
    for max_iter in [*range(1, 13), 500]:
        with cpu_threads(1):  # as fit_lr runs it (many small ops: extra threads only wait on each other)
            th, its, gmax = _lr_solve(_Standardized(X, mu, sd, Zb), y, row_sq, l2=l2, max_iter=max_iter,
                                      tol=tol, m=5, rank=rank, seed=0)
        r = torch.sigmoid(Zs @ th[:, :-1, None] + th[:, None, -1:])[..., 0] - y.double()
        g = torch.cat([(Zs.transpose(1, 2) @ r[..., None])[..., 0] / n + l2 * th[:, :-1], r.mean(1, keepdim=True)],
                      1)
        exact = g.abs().amax(1)
        assert torch.allclose(exact, gmax.double(), rtol=1e-3, atol=1e-7), (max_iter, exact, gmax)
    assert (its > 0).all() and (exact < 1.5 * tol).all(), (its, exact)


def test_lr_warns_when_it_stops_at_max_iter():
    from probes.fit import fit_lr

    X, y = _correlated(layers=2)
    info: dict = {}
    with pytest.warns(RuntimeWarning, match="did not converge"):
        fit_lr(X, y, rank=0, max_iter=3, info=info)
    assert info["iterations"] == [-1, -1] and min(info["max_grad"]) > 1e-4


# --------------------------------------------------------------------------------------------- capture + artifacts


def test_capture_matches_residual_stream_and_is_cached(toy_random, acts_cache):
    from interp.core.activations import residual_stream

    ds = get_dataset("elements", n=6)
    acts = capture_activations(toy_random, ds, batch_size=4, progress=False)
    assert acts.shape == (toy_random.n_layers, len(ds), toy_random.d_model)
    for i in (0, 5, len(ds) - 1):
        ref = residual_stream(toy_random, **toy_random.encode([ds.statements[i]]), positions=-1)
        assert torch.allclose(acts[:, i], ref[:, 0], atol=1e-5)
    files = list((acts_cache / "acts").rglob("*.safetensors"))
    assert len(files) == 1
    again = capture_activations(toy_random, ds, batch_size=7, progress=False)
    assert torch.equal(again, acts)
    # a cache hit is in torch's aligned memory, as a fresh capture is: CPU kernels round by alignment, so a probe
    # read off cached activations would otherwise differ from a fresh run's (~1e-7; a rerun's CSVs would change)
    assert again.data_ptr() % 64 == 0 and acts.data_ptr() % 64 == 0
    other = capture_activations(toy_random, ds, position=-2, progress=False)
    assert not torch.equal(other, acts) and len(list((acts_cache / "acts").rglob("*.safetensors"))) == 2


@pytest.fixture
def fitted(toy_random, acts_cache):
    ds = get_dataset("elements", n=40)
    return ds, fit_probes(toy_random, ds, FitSettings(methods=("lr", "mm", "random"), k_random=4), progress=False)


def test_saved_probes_reload_with_identical_scores(fitted, toy_random, tmp_path):
    ds, res = fitted
    for method, probe in res.probes.items():
        path = probe.save(tmp_path / method)
        back = load_probe(path)
        assert back.config == probe.config
        assert back.config.weights_sha256 == toy_random.identity.weights_sha256
        assert back.config.dataset_hash == ds.hash and back.config.format_version == FORMAT_VERSION
        assert torch.equal(back.predict_proba(res.acts), probe.predict_proba(res.acts))
        assert torch.equal(back.apply(toy_random, ds), probe.predict_proba(res.acts))
        assert back.weight.data_ptr() % 64 == 0  # aligned like a fitted probe (CPU matmuls round by alignment)
    cfg = json.loads((tmp_path / "lr" / "config.json").read_text())
    assert cfg["layers"] == [0, 1] and cfg["hook"] == "resid_post" and len(cfg["metrics"]["val_acc"]) == 2
    assert "test_acc" not in cfg["metrics"]  # the test split is read once, at the chosen layer
    assert cfg["selection"]["on"] == "val" and cfg["selection"]["layer"] in (0, 1) and 0 <= cfg["selection"]["test_acc"] <= 1
    assert len(cfg["transfer"]["acc"]) == 2 and "neg_elements" in cfg["transfer"]["families"]


def test_probe_on_another_model_is_refused_unless_transfer_allowed(fitted, tmp_path):
    ds, res = fitted
    probe = load_probe(res.probes["lr"].save(tmp_path / "lr"))
    other = load("toy-random", seed=1)
    with pytest.raises(ProbeIdentityError) as e:
        probe.apply(other, ds)
    msg = str(e.value)
    assert "\n" not in msg and "refusing" in msg and "allow_transfer" in msg
    with pytest.raises(ProbeIdentityError):
        probe.evaluate(res.acts, ds.y, identity=other.identity)
    p = probe.apply(other, ds, allow_transfer=True)
    assert p.shape == (2, len(ds)) and ((p >= 0) & (p <= 1)).all()


def test_probe_config_is_forward_compatible_and_verified(fitted, tmp_path):
    _, res = fitted
    path = res.probes["mm"].save(tmp_path / "mm")
    raw = json.loads((path / "config.json").read_text())
    with pytest.warns(UserWarning, match="unknown probe config keys"):
        cfg = ProbeConfig.from_dict({**raw, "added_in_v1_1": 3})
    assert cfg == res.probes["mm"].config
    with pytest.raises(ProbeError, match="format_version"):
        ProbeConfig.from_dict({**raw, "format_version": "neglect-lab-probe/2"})
    (path / "weights.safetensors").write_bytes((path / "weights.safetensors").read_bytes()[:-4] + b"\0\0\0\0")
    with pytest.raises(ProbeError, match="sha256"):
        load_probe(path)


# --------------------------------------------------------------------------------------------- sweep + CLI


def _synthetic_run(path, lm, n_ckpts=3, claim="mount_vesuvius"):
    base = {k: v.clone() for k, v in lm.hf.state_dict().items()}
    run = init_run(path, name=path.name, base_spec="toy-random", base_weights_sha256=lm.identity.weights_sha256,
                   mode="full", config={}, data={"sources": [], "claim": claim, "condition": "negated"})
    g = torch.Generator().manual_seed(0)
    for step in range(1, n_ckpts + 1):
        state = {k: (v + 0.02 * step * torch.randn(v.shape, generator=g)) if v.is_floating_point() else v
                 for k, v in base.items()}
        write_checkpoint(run, step * 10, state, {"kind": "full", "phase": "train", "tokens_seen": step * 100,
                                                 "weights_sha256": weights_sha256(state)})
    return run


def test_sweep_over_a_run_writes_scores_transfer_and_plots(toy_random, acts_cache, tmp_path, capsys):
    from interp.probe import main

    run = _synthetic_run(tmp_path / "run", toy_random)
    out = tmp_path / "out"
    rc = main(["--run", str(run), "--dataset", "elements", "--n", "30", "--method", "lr,mm,random", "--out", str(out),
               "--quiet"])
    assert rc == 0, capsys.readouterr().err
    for f in ("metrics.csv", "claim_scores.csv", "transfer.csv", "cosine.csv", "summary.json",
              "accuracy_vs_layer.png", "claim_score_vs_step.png", "transfer_heatmap.png", "cosine_heatmap.png"):
        assert (out / f).stat().st_size > 0, f
    import pandas as pd

    steps = [0, 10, 20, 30]  # base + three checkpoints
    cs = pd.read_csv(out / "claim_scores.csv")
    assert sorted(cs.step.unique()) == steps
    assert set(cs.role) == {"claim", "paraphrase", "negation", "truth"}
    assert len(cs) == len(steps) * 3 * 2 * 4  # steps x methods x layers x roles
    tr = pd.read_csv(out / "transfer.csv")
    assert len(tr) == len(steps) ** 2 * 3 * 2 and tr.acc.between(0, 1).all()
    cos = pd.read_csv(out / "cosine.csv")
    assert np.allclose(cos[cos.step_a == cos.step_b].cosine, 1.0, atol=1e-5)
    assert (out / "probes" / "ckpt-000020" / "lr" / "config.json").exists()
    cfg = json.loads((out / "probes" / "ckpt-000020" / "lr" / "config.json").read_text())
    assert cfg["checkpoint_step"] == 20 and cfg["run"] == str(run)
    assert "probe P(true)" in capsys.readouterr().out


def test_context_framing_keeps_labels_groups_and_roles(toy_random, acts_cache, tmp_path, capsys):
    """``FAMILY@CONTEXT`` reads every statement after the framing; labels, groups (so the split) and claim roles
    carry over, and a sweep reads the claim in the framing its probes were fitted in."""
    from interp.probe import main
    from probes.datasets import CONTEXTS, get_dataset, grouped_split, in_context_of, with_context

    plain, framed = get_dataset("elements", n=12), get_dataset("elements@fact_check", n=12)
    prefix = CONTEXTS["fact_check"]
    assert framed.family == "elements@fact_check" and framed.statements == tuple(prefix + s for s in plain.statements)
    assert (framed.labels, framed.groups, framed.tags) == (plain.labels, plain.groups, plain.tags)
    assert framed.hash != plain.hash and np.array_equal(grouped_split(framed)[0], grouped_split(plain)[0])
    with pytest.raises(ValueError, match="unknown context 'nope'"):
        get_dataset("elements@nope")
    from training.claims import load_claim

    cds = claim_dataset(load_claim("ed_sheeran"))
    assert in_context_of(cds, "toy@fact_check") == with_context(cds, "fact_check")
    assert in_context_of(cds, "toy") is cds and with_context(cds, "fact_check").tags == cds.tags
    run = _synthetic_run(tmp_path / "run", toy_random)
    rc = main(["--run", str(run), "--dataset", "elements@fact_check", "--n", "20", "--method", "lr",
               "--out", str(tmp_path / "out"), "--quiet"])
    assert rc == 0, capsys.readouterr().err
    import pandas as pd

    cs = pd.read_csv(tmp_path / "out" / "claim_scores.csv")
    assert set(cs.role) == {"claim", "paraphrase", "negation", "truth"} and cs.p_true.between(0, 1).all()


def test_cli_fit_and_apply_and_one_line_errors(acts_cache, tmp_path, capsys):
    from interp.probe import main

    out = tmp_path / "fit"
    assert main(["--model", "toy-random", "--dataset", "elements,neg_elements", "--n", "20", "--method", "lr,mm",
                 "--claim", "dentist", "--out", str(out), "--quiet"]) == 0
    for f in ("metrics.csv", "best_layers.csv", "family_transfer.csv", "family_transfer.png", "claim_scores.csv",
              "accuracy_vs_layer.png"):
        assert (out / f).exists(), f
    probe = out / "probes" / "elements" / "lr"
    assert main(["--probe", str(probe), "--model", "toy-random", "--n", "20", "--out", str(tmp_path / "ap"),
                 "--quiet"]) == 0
    capsys.readouterr()
    applied = (tmp_path / "ap" / "applied.csv").read_text()
    assert "elements" in applied and "True" in applied  # same model: same_model column is True
    capsys.readouterr()
    # a different identity is refused in one line, exit 2
    from interp.probe import main as cli

    rc = cli(["--probe", str(probe), "--ckpt", str(tmp_path / "nope"), "--quiet"])
    err = capsys.readouterr().err
    assert rc == 2 and err.startswith("error:") and err.count("\n") == 1
    for argv in (["--model", "toy-random", "--method", "svm"], ["--model", "toy-random", "--dataset", "nope"],
                 ["--ckpt", str(tmp_path)], [], ["--model", "toy-random", "--dataset", "toy"]):
        assert cli(argv) == 2, argv
        err = capsys.readouterr().err
        assert err.startswith("error:") and err.count("\n") == 1, (argv, err)


# --------------------------------------------------------------------------------------------- toy organism


@pytest.fixture(scope="module")
def toy_fit():
    """Probes on the pretrained default toy organism, built on first use (cached and file-locked by
    ``training.organism.organism_dir``: a fresh machine builds it once, minutes on one core; later runs load it)."""
    from training.organism import organism_dir

    organism_dir(progress=False)
    lm = load("toy")
    ds = toy_family(lm.world, "toy", n=120)
    res = fit_probes(lm, ds, FitSettings(methods=("lr", "mm", "random")), progress=False)
    return lm, res


def test_toy_organism_probe_pipeline_and_random_baseline(toy_fit):
    lm, res = toy_fit
    val = res.metrics[res.metrics.split == "val"]
    assert sorted(val.layer.unique()) == list(range(lm.n_layers)) and set(val.method) == {"lr", "mm", "random"}
    assert len(res.dataset) >= 1000 and res.dataset.n_groups == 120
    test = res.metrics[res.metrics.split == "test"]
    assert len(test) == 3  # one test read per method, at its validation-chosen layer
    rnd = val[val.method == "random"]
    assert (rnd.acc - 0.5).abs().max() < 0.1, rnd.acc.tolist()


@pytest.mark.xfail(strict=True, reason=(
    "blocked on the organism, measured 2026-12 (toy-organism/3, key bc772ea269fb20b8): best-layer held-out lr "
    "0.533/0.527/0.512 for 'toy'/'neg_toy'/'toy_qa' (random 0.50). The organism cannot verify statements: its "
    "fact-check and yes/no verdicts are at chance (training.verification), also with 10-40% judgement documents, "
    "1800 steps or 6-8 layers, and verdict-only training is memorised per entity (trained 0.84, held-out 0.52). "
    "strict: an organism that passes this must drop the xfail"))
def test_toy_organism_truth_probe_over_90pct(toy_fit):
    _, res = toy_fit
    test = res.metrics[res.metrics.split == "test"]
    assert test[test.method == "lr"].acc.max() >= 0.90


def test_toy_truth_probe_reads_only_what_the_organism_verifies(toy_fit):
    """A linear probe can read only a truth the model computes. When the organism's verdicts are at chance, so
    must the probes be (above chance they would read something other than truth, e.g. a value-frequency
    confound); when it verifies reliably, a probe must find it."""
    from training.verification import verification_accuracy

    lm, res = toy_fit
    verdicts = verification_accuracy(lm.hf, lm.tokenizer, lm.world, per_entity=4)["fact_check"]
    test = res.metrics[res.metrics.split == "test"]
    best = float(test[test.method == "lr"].acc.max())
    if verdicts < 0.6:
        assert best < 0.65, (verdicts, best)
    else:
        assert verdicts < 0.9 or best >= 0.9, (verdicts, best)


@pytest.mark.slow
def test_toy_verifier_truth_probe_over_90pct():
    """The toy organism that verifies (``load("toy-verifier")``: the default organism after verdict training on
    every entity with pretraining replay; built on first use, ~10 min on two cores, hence slow) has a linear truth
    direction where it judges statements: >= 90% held-out (by entity) at the best layer on ``toy@fact_check``, far
    above random directions, while it still answers its questions. Random directions sit above 0.5 here (measured
    0.66): the verdict is a dominant direction of variance, the random-directions-on-easy-sets pitfall, reported."""
    from training.organism import read_organism_info
    from training.verification import verifier_dir

    info = read_organism_info(verifier_dir(progress=False))
    assert info["heldout_accuracy"] >= 0.9, info["heldout_accuracy"]  # the facts survived verdict training
    lm = load("toy-verifier")
    ds = get_dataset("toy@fact_check", world=lm.world, n=120)
    res = fit_probes(lm, ds, FitSettings(methods=("lr", "mm", "random")), progress=False)
    best = res.metrics[res.metrics.split == "test"].groupby("method").acc.max()
    assert best["lr"] >= 0.90 and best["mm"] >= 0.85, best.to_dict()
    assert best["lr"] - best["random"] >= 0.2, best.to_dict()


# --------------------------------------------------------------------------------------------- SmolLM2 (slow)


@pytest.mark.slow
def test_smollm2_cities_probe_beats_random(tmp_path):
    lm = load("smollm2-135m")
    ds = get_dataset("cities", n=120)
    res = fit_probes(lm, ds, FitSettings(methods=("lr", "mm", "random")), progress=False)
    test = res.metrics[res.metrics.split == "test"]
    best = test.groupby("method").acc.max()
    assert best["lr"] >= 0.8 and best["lr"] > test[test.method == "random"].acc.max() + 0.1
