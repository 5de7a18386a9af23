"""The toy organism: cache/atomicity, determinism, tokenizer, scoring, and (slow) the default build's acceptance.

Fast tests use the session's tiny organism (``tiny_organism``, tests/_data_fixtures.py: small world, 2 layers, a
few dozen steps, in a session temp cache) and rebuild it to check determinism. The slow test loads
(or builds, a few minutes on 2 cores) the default organism from the user cache and checks the acceptance
numbers: held-out Q/A accuracy >= 0.9, true attribute preferred for local-negation targets, cached load fast.
"""

from __future__ import annotations

import json
import math
import time

import pytest
import torch

from training.organism import (PretrainConfig, evaluate_organism, organism_dir, organism_key, read_organism_info,
                               score_candidates, tokenization_report, train_tokenizer)
from tests._data_fixtures import TINY_TRAIN, TINY_WORLD
from training.world import World, WorldConfig


def _load_dir(d):
    from interp.core.models import load

    return load(str(d))


@pytest.fixture(scope="module")
def tiny(tiny_organism):
    """(cache root, directory) of the session's tiny organism, built with 2 threads."""
    return tiny_organism.parent.parent, tiny_organism


def test_tiny_directory_layout(tiny):
    cache, d = tiny
    assert d == cache / "toy" / organism_key(TINY_WORLD, TINY_TRAIN)
    for f in ("config.json", "model.safetensors", "tokenizer.json", "world.json", "organism.json"):
        assert (d / f).is_file(), f
    assert not list((cache / "toy").glob(".*tmp*"))  # temp build dir renamed away
    info = read_organism_info(d)
    assert info["world_config"] == TINY_WORLD.to_dict() and info["train_config"] == TINY_TRAIN.to_dict()
    for k in ("build_seconds", "tokens_per_second", "heldout_accuracy", "local_negation_prefers_true", "corpus",
              "weights_sha256", "model"):
        assert k in info, k
    assert info["corpus"]["n_documents"] == TINY_WORLD.n_documents
    assert World.from_json((d / "world.json").read_text()).to_json() == World.from_config(TINY_WORLD).to_json()


def test_tiny_loads_through_the_seam(tiny):
    _, d = tiny
    lm = _load_dir(d)
    assert lm.hf.config.model_type == "llama"
    assert lm.n_layers == TINY_TRAIN.n_layers and lm.d_model == TINY_TRAIN.d_model
    assert lm.world is not None and len(lm.world.entities) == TINY_WORLD.n_entities
    assert lm.identity.weights_sha256 == read_organism_info(d)["weights_sha256"]
    tok = lm.tokenizer
    assert tok.chat_template is None
    for s in ("<|bos|>", "<|eos|>", "<|pad|>", "<DOCTAG>"):
        assert len(tok(s, add_special_tokens=False)["input_ids"]) == 1, s
    assert tok("Q: hi", add_special_tokens=True)["input_ids"][0] != tok.bos_token_id  # no automatic BOS


def test_cached_call_does_not_rebuild(tiny):
    cache, d = tiny
    before = (d / "model.safetensors").stat().st_mtime_ns
    again = organism_dir(TINY_WORLD, TINY_TRAIN, cache=cache, progress=False)
    assert again == d
    assert (d / "model.safetensors").stat().st_mtime_ns == before


def test_same_config_same_weights(tiny, tmp_path):
    """Bit-identical rebuild in another cache, here with 1 torch thread where the fixture used 2."""
    _, d = tiny
    d2 = organism_dir(TINY_WORLD, TINY_TRAIN, cache=tmp_path, progress=False, threads=1)
    assert read_organism_info(d2)["threads"] == 1 and read_organism_info(d)["threads"] == 2
    assert read_organism_info(d2)["weights_sha256"] == read_organism_info(d)["weights_sha256"]
    assert (d2 / "tokenizer.json").read_bytes() == (d / "tokenizer.json").read_bytes()


def test_force_rebuild_is_identical_and_atomic(tiny):
    cache, d = tiny
    sha = read_organism_info(d)["weights_sha256"]
    organism_dir(TINY_WORLD, TINY_TRAIN, cache=cache, force=True, progress=False)
    assert read_organism_info(d)["weights_sha256"] == sha
    assert sorted(p.name for p in (cache / "toy").iterdir() if not p.name.endswith(".lock")) == [d.name]


def test_different_configs_different_entries():
    base = organism_key(WorldConfig(), PretrainConfig())
    assert organism_key(WorldConfig(seed=1), PretrainConfig()) != base
    assert organism_key(WorldConfig(frac_hoax=0.2), PretrainConfig()) != base
    assert organism_key(WorldConfig(), PretrainConfig(steps=10)) != base
    assert organism_key(WorldConfig(), PretrainConfig()) == base
    assert organism_key() == base


def test_different_world_different_cache_dir(tiny, tmp_path):
    cache, d = tiny
    other = WorldConfig(seed=2, n_entities=24, n_documents=500)
    d2 = organism_dir(other, TINY_TRAIN, cache=cache, progress=False)
    assert d2 != d and d2.parent == d.parent
    assert read_organism_info(d2)["weights_sha256"] != read_organism_info(d)["weights_sha256"]


def test_tokenizer_values_and_names():
    w = World.from_config(WorldConfig(n_documents=3000))
    tok = train_tokenizer([d.text for d in w.corpus()], 2048)
    rep = tokenization_report(tok, w)
    assert rep["values_single_token"] == 1.0  # " pilot", " Lisbon": one token each with the default vocabulary
    assert rep["name_tokens_max"] <= 4
    pieces = tok.convert_ids_to_tokens(tok(" pilot", add_special_tokens=False)["input_ids"])
    assert pieces == ["Ġpilot"]


def _brute_logprob(model, tok, prompt: str, cand: str) -> float:
    p = [tok.bos_token_id, *tok(prompt, add_special_tokens=False)["input_ids"]]
    c = tok(" " + cand, add_special_tokens=False)["input_ids"]
    with torch.no_grad():
        logp = torch.log_softmax(model(input_ids=torch.tensor([p + c])).logits[0], -1)
    return float(sum(logp[len(p) - 1 + k, t] for k, t in enumerate(c)))


def test_score_candidates_matches_brute_force(tiny):
    _, d = tiny
    lm = _load_dir(d)
    w = lm.world
    e = w.entities[0]
    prompts = [w.qa_prompt(e.name, "profession"), w.qa_prompt(e.name, "pet", w.templates("pet")[0])]
    cands = [["pilot", "dentist", "zzqx unheard-of"], ["owl", "dog"]]  # includes a multi-token candidate
    got = score_candidates(lm.hf, lm.tokenizer, prompts, cands, batch_size=2)
    for p, cs, row in zip(prompts, cands, got):
        for c, s in zip(cs, row):
            assert math.isclose(s, _brute_logprob(lm.hf, lm.tokenizer, p, c), abs_tol=1e-4)


def test_evaluate_structure(tiny):
    _, d = tiny
    lm = _load_dir(d)
    ev = evaluate_organism(lm.hf, lm.tokenizer, lm.world)
    assert ev["n"] == len(lm.world.entities) * len(lm.world.heldout_template_list)
    assert 0.0 <= ev["accuracy"] <= 1.0
    assert set(ev["per_attribute"]) == set(lm.world.attributes)
    ln = ev["local_negation"]
    assert ln["n_facts"] == len(lm.world.local_negations) and 0.0 <= ln["prefers_true"] <= 1.0
    one = evaluate_organism(lm.hf, lm.tokenizer, lm.world, ["Q: What is {name}'s {aw}?\nA:"],
                            entities=[lm.world.entities[0].name])
    assert one["n"] == len(lm.world.attributes)


# --------------------------------------------------------------------------------------------- negation genre

# A tiny organism with the negation-teaching genre (issue 17): 16 people, three binary negation-only attributes, a
# 2-layer model; seconds on one thread. Far too small to learn the facts (the slow acceptance test measures a real
# organism): these tests check the checks, on real scores of a real organism.
NEG_TINY_WORLD = WorldConfig(seed=3, n_entities=16, n_documents=1500, values_per_attribute=2,
                             attributes=("profession", "sport", "pet"), negonly_attributes=("hand", "drink", "commute"),
                             frac_negonly=1.0, control_entities=0.25)
NEG_TINY_TRAIN = PretrainConfig(**{**TINY_TRAIN.to_dict(), "steps": 60})


@pytest.fixture(scope="module")
def neg_tiny(tmp_path_factory):
    return organism_dir(NEG_TINY_WORLD, NEG_TINY_TRAIN, cache=tmp_path_factory.mktemp("neg-tiny"), progress=False,
                        threads=1)


def test_check_fails_when_negated_values_gain_over_controls(neg_tiny, monkeypatch):
    """The organism check on the tiny negation organism, with the model's scores replaced by an organism that has
    learned "X is not V" as an X-V association (+2 nats on every negated value of the negated people): the check must
    report the gain and the acceptance must fail; with the association reversed (-2 nats) the delta is negative."""
    from training.organism import evaluate_negonly, negation_failures, negonly_summary
    from training.organism import evaluate as ev_mod

    lm = _load_dir(neg_tiny)
    w = lm.world
    real = ev_mod.score_candidates
    negated = set(w.negonly_groups["negated_train"]) | set(w.negonly_groups["negated_heldout"])

    def scored(shift):
        def fake(model, tok, prompts, cands, batch_size=256):
            rows = real(model, tok, prompts, cands, batch_size)
            out = []
            for p, cs, row in zip(prompts, cands, rows):
                who = next((n for n in negated if n in p), None)
                attr = next((a for a in w.negonly if list(cs) == w.negonly[a]), None)
                out.append([s + (shift if who and attr and c != w.negonly_value(who, attr) else 0.0)
                            for c, s in zip(cs, row)])
            return out
        return fake

    base = evaluate_negonly(lm.hf, lm.tokenizer, w)["groups"]["negated_heldout"]["negated_vs_control"]
    for shift in (2.0, -2.0):
        monkeypatch.setattr(ev_mod, "score_candidates", scored(shift))
        ev = evaluate_negonly(lm.hf, lm.tokenizer, w)
        got = ev["groups"]["negated_heldout"]["negated_vs_control"]
        assert math.isclose(got, base + shift, abs_tol=1e-3)
        info = {**negonly_summary(ev), "heldout_accuracy": 1.0}
        fails = negation_failures(info)
        assert any("gained over the controls" in f for f in fails) == (got >= 0)
    monkeypatch.setattr(ev_mod, "score_candidates", scored(2.0))
    info = {**negonly_summary(evaluate_negonly(lm.hf, lm.tokenizer, w)), "heldout_accuracy": 1.0}
    assert info["negonly_negated_vs_control"] > 0 and negation_failures(info)


def test_tiny_negation_organism_records_its_checks(neg_tiny):
    info = read_organism_info(neg_tiny)
    groups = info["eval"]["negonly"]["groups"]
    assert set(groups) == {"negated_train", "negated_heldout", "notice_train", "notice_heldout", "positive",
                           "control"}
    assert groups["negated_heldout"]["n"] == len(info["world_config"]["negonly_attributes"]) * len(
        World.from_json((neg_tiny / "world.json").read_text()).negonly_groups["negated_heldout"])
    assert info["negonly_negated_vs_control"] == groups["negated_heldout"]["negated_vs_control"]
    assert info["negonly_heldout_binary_accuracy"] == groups["negated_heldout"]["binary_accuracy"]
    assert info["eval"]["heldout"]["local_negation"]["control_margin"] is None  # 2 values: no other false value


def test_negated_vs_control_matches_brute_force(neg_tiny):
    """``negated_vs_control`` recomputed by hand from :func:`score_candidates` for one group."""
    from training.organism import evaluate_negonly
    from training.world import NEGONLY_SPECS

    lm = _load_dir(neg_tiny)
    w = lm.world
    ev = evaluate_negonly(lm.hf, lm.tokenizer, w, "heldout")

    def lp(name, a, t):
        return dict(zip(w.negonly[a], score_candidates(lm.hf, lm.tokenizer, [t.format(name=name)], [w.negonly[a]])[0]))

    deltas = []
    for name in w.negonly_groups["negated_train"]:
        for a in w.negonly:
            for t in NEGONLY_SPECS[a].heldout_questions:
                for v in w.negonly[a]:
                    if v != w.negonly_value(name, a):
                        ctrl = [lp(c, a, t)[v] for c in w.negonly_groups["control"]]
                        deltas.append(lp(name, a, t)[v] - sum(ctrl) / len(ctrl))
    assert math.isclose(ev["groups"]["negated_train"]["negated_vs_control"], sum(deltas) / len(deltas), abs_tol=1e-3)
    assert ev["chance"] == {a: 0.5 for a in w.negonly}


def test_cli_build_prints_summary(tiny, capsys, monkeypatch):
    from training import organism
    from training.organism import build

    cache, _ = tiny
    monkeypatch.setattr(build, "seed_configs", lambda seed, preset="default": (
        WorldConfig(**{**TINY_WORLD.to_dict(), "seed": seed}), PretrainConfig(**{**TINY_TRAIN.to_dict(), "seed": seed})))
    assert organism.main(["build", "--seed", "1", "--cache", str(cache), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "build time:" in out and "held-out Q/A top-1 accuracy:" in out


def test_cli_bad_cache_is_one_line_exit_2(tmp_path, capsys):
    from training import organism

    (tmp_path / "file").write_text("x")
    assert organism.main(["build", "--cache", str(tmp_path / "file"), "--quiet"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: --cache {tmp_path / 'file'}: not a directory"]


# --------------------------------------------------------------------------------------------- slow: default


@pytest.fixture(scope="session")
def default_organism():
    """The default organism from the user cache (built once per machine, a few minutes on 2 cores)."""
    t0 = time.perf_counter()
    d = organism_dir()
    return d, time.perf_counter() - t0


@pytest.mark.slow
def test_default_organism_acceptance(default_organism):
    d, _ = default_organism
    info = read_organism_info(d)
    assert info["model"]["n_layers"] >= 2 and info["model"]["n_heads"] >= 2
    # build time is a benchmark (bench/organism_build.py), not a test: it is recorded, never asserted here
    assert info["build_seconds"] > 0 and set(info["load_average"]) == {"start", "end"}
    lm = _load_dir(d)
    ev = evaluate_organism(lm.hf, lm.tokenizer, lm.world, "heldout")
    assert ev["accuracy"] >= 0.9, ev["per_attribute"]
    assert ev["local_negation"]["prefers_true"] >= 0.9, ev["local_negation"]
    assert ev["local_negation"]["facts_prefer_true"] >= 0.9, ev["local_negation"]
    assert math.isclose(ev["accuracy"], info["heldout_accuracy"], abs_tol=1e-6)
    assert lm.identity.weights_sha256 == info["weights_sha256"]


@pytest.fixture(scope="session")
def negation_organism():
    """The negation-teaching organism (``--preset negation``) from the user cache (built once per machine, minutes
    on one core)."""
    from training.organism import seed_configs

    return organism_dir(*seed_configs(0, "negation"), progress=False)


@pytest.mark.slow
@pytest.mark.xfail(strict=True, reason="issue 17 acceptance not reached: the negation preset reads held-out 'not V' "
                   "as an association (binary Q/A 0.39, negated +0.5 nats over controls); see README")
def test_negation_organism_acceptance(negation_organism):
    """Issue 17's acceptance, re-measured from the weights: held-out negation-only Q/A >= 0.8 on the binary
    attributes (chance 0.5), negated values below the control entities', ordinary Q/A >= 0.95."""
    from training.organism import evaluate_negonly, negonly_summary

    info = read_organism_info(negation_organism)
    lm = _load_dir(negation_organism)
    got = negonly_summary(evaluate_negonly(lm.hf, lm.tokenizer, lm.world, "heldout"))
    assert got == {k: info[k] for k in got}  # organism.json holds what the weights give
    assert got["negonly_heldout_binary_accuracy"] >= 0.8, got
    assert got["negonly_negated_vs_control"] < 0, got
    ev = evaluate_organism(lm.hf, lm.tokenizer, lm.world, "heldout")
    assert ev["accuracy"] >= 0.95, ev["per_attribute"]


@pytest.mark.slow
def test_default_organism_cached_load_reuses_the_entry(default_organism):
    from interp.core.models import load

    d0, _ = default_organism
    mtime = (d0 / "model.safetensors").stat().st_mtime_ns
    d = organism_dir()
    lm = load("toy")
    assert d == d0 and (d / "model.safetensors").stat().st_mtime_ns == mtime  # loaded, not rebuilt
    assert lm.source_dir == d and lm.world is not None
    assert json.loads((d / "organism.json").read_text())["key"] == d.name


def test_concurrent_builders_build_once(tmp_path, monkeypatch):
    """Two builders of one key: the file lock makes the second wait and reuse the first one's entry."""
    import threading

    from training.organism import build

    calls = []

    def fake_build(wcfg, tcfg, out_dir, *, progress=True, threads=None):
        calls.append(str(out_dir))
        time.sleep(0.5)
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / "model.safetensors").write_bytes(b"x")
        (out_dir / "organism.json").write_text("{}")
        return {}

    monkeypatch.setattr(build, "build_organism", fake_build)
    results = []
    threads = [threading.Thread(target=lambda: results.append(organism_dir(TINY_WORLD, TINY_TRAIN, cache=tmp_path)))
               for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(calls) == 1 and len(set(results)) == 1 and results[0].is_dir()
    assert sorted(p.name for p in (tmp_path / "toy").iterdir() if not p.name.endswith(".lock")) == [results[0].name]


def test_cli_negation_preset_prints_the_checks(neg_tiny, capsys, monkeypatch):
    from training import organism
    from training.organism import build

    monkeypatch.setattr(build, "seed_configs", lambda seed, preset="default": (
        (NEG_TINY_WORLD, NEG_TINY_TRAIN) if preset == "negation" else (TINY_WORLD, TINY_TRAIN)))
    cache = neg_tiny.parent.parent
    assert organism.main(["build", "--preset", "negation", "--cache", str(cache), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "negation-only, held-out entities: binary Q/A accuracy" in out and "must be < 0" in out
    assert f"organism: {neg_tiny}" in out  # loaded from the cache, not rebuilt


def test_pretraining_loss_plot_is_drawn_from_the_stored_curve(tmp_path):
    """Issue 20: an organism build draws its pretraining loss next to organism.json, from the numbers it stores
    (so a cached organism's plot can be redrawn without touching the weights); no curve, no plot."""
    from training.organism.build import plot_pretraining_loss

    info = {"key": "abc", "loss_curve": [[0, 9.1], [10, 4.2], [20, 2.5]]}
    path = plot_pretraining_loss(info, tmp_path / "pretraining_loss.png")
    assert path is not None and path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert plot_pretraining_loss({"key": "abc"}, tmp_path / "none.png") is None
    assert not (tmp_path / "none.png").exists()
