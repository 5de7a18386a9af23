"""Fact verification of the toy organism: items, verdict accuracy, and the verdict-training transfer experiment."""

from __future__ import annotations

import json

import pytest

from tests._data_fixtures import TINY_TRAIN, TINY_WORLD
from training.verification import main, verdict_transfer, verification_accuracy, verification_items
from training.world import World


@pytest.fixture(scope="module")
def tiny(tiny_organism):
    """The session's tiny organism (tests/_data_fixtures.py): its directory and the model loaded through the seam."""
    from interp.core.models import load

    return tiny_organism, load(str(tiny_organism))


def test_items_are_labelled_by_the_world():
    world = World.from_config(TINY_WORLD)
    items = verification_items(world, per_entity=20, seed=4)
    assert len(items) == 2 * 20 * len(world.entities)
    assert {it.kind for it in items} == {"fact_check", "yes_no"}
    for it in items:
        truth = world.truth(it.entity, it.attribute)
        assert it.label == ((it.value == truth) != it.negated)
        assert it.entity in it.prompt and it.value in it.prompt
        assert it.prompt.endswith("\nA:") == (it.kind == "yes_no")
        if it.kind == "yes_no":
            assert (" not " in it.prompt) == it.negated
    share_true = sum(it.label for it in items) / len(items)
    assert 0.4 < share_true < 0.6, share_true
    assert 0.15 < sum(it.negated for it in items) / len(items) < 0.35
    assert items == verification_items(world, per_entity=20, seed=4)  # seeded
    assert items != verification_items(world, per_entity=20, seed=5)


def test_accuracy_keys_and_range(tiny):
    _, lm = tiny
    acc = verification_accuracy(lm.hf, lm.tokenizer, lm.world, per_entity=4)
    assert acc["n"] == 2 * 4 * len(lm.world.entities)
    for k in ("accuracy", "fact_check", "yes_no", "fact_check_plain", "yes_no_plain"):
        assert 0.0 <= acc[k] <= 1.0, k


def test_verdict_training_learns_trained_entities_and_leaves_the_model_alone(tiny):
    """Verdict-only training must raise the trained entities' verdict accuracy well above chance (labels at the
    wrong position would not), on a copy: the organism's own weights stay as they were."""
    from interp.core.models import weights_sha256

    _, lm = tiny
    sha = weights_sha256(lm.hf)
    res = verdict_transfer(lm.hf, lm.tokenizer, lm.world, steps=400, lr=3e-3, batch_size=16, train_frac=0.5,
                           eval_every=100, per_entity=12, progress=False)
    assert [r["step"] for r in res["curve"]] == [0, 100, 200, 300, 400]
    assert set(res["trained_entities"]).isdisjoint(res["heldout_entities"])
    assert len(res["trained_entities"]) + len(res["heldout_entities"]) == len(lm.world.entities)
    assert res["final"]["trained_entities"] >= 0.85, res["curve"]
    assert all(0 <= r["qa_trained"] <= 1 and 0 <= r["qa_heldout"] <= 1 for r in res["curve"])
    assert weights_sha256(lm.hf) == sha


def test_cli_writes_artifacts_and_refuses_bad_input(tiny, tmp_path, capsys):
    import nnsight  # noqa: F401 - mounts .save() on every object; the CLI must not read that as --save

    d, _ = tiny
    assert main(["--model", str(d), "--steps", "4", "--eval-every", "2", "--batch-size", "4",
                 "--out", str(tmp_path / "v"), "--save", str(tmp_path / "copy")]) == 0
    res = json.loads((tmp_path / "v" / "verdict_transfer.json").read_text())
    assert res["config"]["steps"] == 4 and len(res["curve"]) == 3
    assert (tmp_path / "v" / "verdict_transfer.png").stat().st_size > 0
    assert (tmp_path / "v" / "verdict_transfer.csv").read_text().startswith("step,trained_entities")
    from interp.core.models import load, weights_sha256

    copy = load(str(tmp_path / "copy"))  # the saved copy loads through the seam, world included
    meta = json.loads((tmp_path / "copy" / "verdict_transfer.json").read_text())
    assert copy.world is not None and meta["weights_sha256"] == weights_sha256(copy.hf) != res["model"]["weights_sha256"]
    assert not list(tmp_path.glob(".copy.tmp-*"))
    assert main(["--model", str(d), "--steps", "2", "--train-frac", "1", "--replay", "2",
                 "--out", str(tmp_path / "all")]) == 0
    assert json.loads((tmp_path / "all" / "verdict_transfer.json").read_text())["final"]["heldout_entities"] is None
    capsys.readouterr()
    assert main(["--model", str(tmp_path / "missing")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: --model")
    assert main(["--model", str(d), "--steps", "2", "--train-frac", "1.5", "--out", str(tmp_path / "w")]) == 2
    assert not (tmp_path / "w").exists()



@pytest.mark.integration  # 800 training steps (~37 s): CI runs it in the integration tier, outside the fast one
def test_verifier_organism_is_built_cached_and_verifies(tiny_organism):
    from interp.core.models import load, weights_sha256
    from training.organism import read_organism_info
    from training.verification import VerifierConfig, verifier_dir, verifier_key

    cfg = VerifierConfig(steps=800, lr=3e-3, batch_size=16, replay=0)  # replay: see the transfer experiment
    cache = tiny_organism.parent.parent  # the base organism is the session's, already built there
    d = verifier_dir(TINY_WORLD, TINY_TRAIN, cfg, cache=cache, progress=False)
    info = read_organism_info(d)
    v = info["verifier"]
    assert d == cache / "toy-verifier" / verifier_key(v["base_weights_sha256"], cfg) and v["config"] == cfg.to_dict()
    lm = load(str(d))
    assert lm.world is not None and weights_sha256(lm.hf) == info["weights_sha256"] != v["base_weights_sha256"]
    assert v["verification"]["fact_check_plain"] >= 0.85, v["verification"]  # every entity's verdicts were trained
    assert 0.0 <= info["heldout_accuracy"] <= 1.0 and "base_heldout_accuracy" in v
    mtime = (d / "model.safetensors").stat().st_mtime_ns
    assert verifier_dir(TINY_WORLD, TINY_TRAIN, cfg, cache=cache, progress=False) == d  # cached, not rebuilt
    assert (d / "model.safetensors").stat().st_mtime_ns == mtime
    assert verifier_key(v["base_weights_sha256"], VerifierConfig(steps=801)) != d.name
    assert not list((cache / "toy-verifier").glob(".*tmp*"))
