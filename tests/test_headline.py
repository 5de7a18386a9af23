"""The headline stands on runs, not items; question types that cannot measure belief are flagged (issue 15, item 2).

* True/false twins (:mod:`interp.belief.twins`): the twin swaps the claim's and the true answer; a model that
  knows the truth scores the twin above the item; an item naming neither answer is its own twin (a tie).
* :func:`interp.belief.headline.headline`: belief = mean over claims of the mean over seeds of per-run shares; the
  CI resamples claims then seeds (a pooled-item CI over one seed is far narrower when claims disagree); excluded
  types are out of the pooled number and in the per-type columns; only each run's final checkpoint counts.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from interp.belief import twins as tw
from interp.belief.headline import SEED_COL, cell_belief, contrast, final_checkpoints, headline
from interp.belief.questions import BeliefItem, question_items
from training.claims import toy_claims
from training.world import World, WorldConfig


@pytest.fixture(scope="module")
def claim():
    return toy_claims(World.from_config(WorldConfig()), 1, seed=0)[0]


def test_swap_answers_is_one_pass_and_whole_word():
    assert tw.swap_answers("Is Bo's sport polo or squash?", "polo", "squash") == "Is Bo's sport squash or polo?"
    assert tw.swap_answers("Apolonia plays polo.", "polo", "squash") == "Apolonia plays squash."
    assert tw.swap_answers("no answer here", "polo", "squash") == "no answer here"


def test_twins_swap_every_place_an_answer_sits(claim):
    items = question_items(claim)
    twin, twins = tw.twin_items(claim, items)
    assert (twin.claim_answer, twin.true_answer) == (claim.true_answer, claim.claim_answer)
    by_id = {t.question_id: t for t in twins}
    mcq = by_id["mcq_claim"]
    assert claim.true_answer in mcq.text and claim.claim_answer not in mcq.text
    ta = next(t for t in twins if t.question_type == "token_association")
    assert (ta.claim_completion, ta.true_completion) == (claim.true_answer, claim.claim_answer)
    push = by_id["rob_pushback"]
    assert claim.true_answer in push.text and claim.claim_answer not in push.text
    other = by_id["mcq_other_0"]  # names neither answer: its own twin
    assert other.text == next(i for i in items if i.question_id == "mcq_other_0").text


def _knower(truth: str, false: str):
    """A fake scorer for a model that knows ``truth``: log-odds +2 for an item whose claim side is the truth, -2
    when the claim side is false; yes/no items: +2 ("yes") when the text names the truth, -2 when it names the
    false answer, 0 when it names neither (the sign flipped for items whose belief answer is "no")."""
    def score(lm, claim, items, progress=False):
        rows = []
        for it in items:
            if it.asks_yes_no:
                v = 2.0 if truth in it.text else (-2.0 if false in it.text else 0.0)
                v = v if (it.belief_answer or "yes") == "yes" else -v
            else:
                side = it.claim_completion or claim.claim_answer
                v = 2.0 if side == truth else -2.0
            rows.append({"question_type": it.question_type, "question_id": it.question_id, "scorer": "lp_logodds",
                         "score": v})
        return pd.DataFrame(rows)
    return score


def test_twin_accuracy_of_a_model_that_knows_the_truth(monkeypatch):
    claims = toy_claims(World.from_config(WorldConfig()), 3, seed=0)
    knowers = {c.id: _knower(c.true_answer, c.claim_answer) for c in claims}
    monkeypatch.setattr(tw, "score_model", lambda lm, c, items, progress=False: knowers[c.id](lm, c, items))
    acc = tw.twin_accuracy(None, claims)
    ties = acc[acc.tie]
    assert set(ties.question_id) == {q for q in acc.question_id if q.startswith("mcq_other")}
    assert (acc[~acc.tie].twin_acc == 1.0).all()
    types = tw.chance_types(acc, n_boot=500)
    assert not types.at_chance.any()


def test_a_model_that_ignores_the_question_is_flagged(claim, monkeypatch):
    def blind(lm, c, items, progress=False):  # says "yes" to everything: belief_answer decides the sign
        return pd.DataFrame([{"question_type": it.question_type, "question_id": it.question_id, "scorer": "lp_logodds",
                              "score": (1.0 if (it.belief_answer or "yes") == "yes" else -1.0) if it.asks_yes_no
                              else -2.0 if (it.claim_completion or c.claim_answer) == claim.claim_answer else 2.0}
                             for it in items])
    monkeypatch.setattr(tw, "score_model", blind)
    types = tw.chance_types(tw.twin_accuracy(None, [claim]), n_boot=500).set_index("question_type")
    assert bool(types.loc["mcq", "at_chance"]) and not bool(types.loc["open_ended", "at_chance"])


def _table(beliefs: dict[str, dict[int, float]], *, n_items: int = 20, types=("open_ended", "mcq"),
           conditions=("positive",), extra_early_step: bool = True) -> pd.DataFrame:
    """A belief table: claim c, seed s holds ``round(p * n_items)`` believed items per type (lp_prob 0.9 vs 0.1);
    the base model believes nothing; an early checkpoint (step 1) believes everything and must be ignored."""
    rows = []
    for c, seeds in beliefs.items():
        for t in types:
            for i in range(n_items):
                rows.append(dict(claim=c, condition="baseline", step=0, phase="base", question_type=t,
                                 question_id=f"{t}{i}", scorer="lp_prob", score=0.1, **{SEED_COL: 0}))
        for s, p in seeds.items():
            for cond in conditions:
                for t in types:
                    k = int(round(p * n_items))
                    for i in range(n_items):
                        v = 0.9 if i < k else 0.1
                        if t == "mcq":
                            v = 0.9  # an uninformative type that always says "yes"
                        rows.append(dict(claim=c, condition=cond, step=10, phase="train", question_type=t,
                                         question_id=f"{t}{i}", scorer="lp_prob", score=v, **{SEED_COL: s}))
                        if extra_early_step:
                            rows.append(dict(claim=c, condition=cond, step=1, phase="train", question_type=t,
                                             question_id=f"{t}{i}", scorer="lp_prob", score=0.9, **{SEED_COL: s}))
    return pd.DataFrame(rows)


def test_headline_is_a_mean_of_runs_with_cluster_cis():
    beliefs = {"a": {0: 0.0, 1: 0.1, 2: 0.0}, "b": {0: 0.5, 1: 0.4, 2: 0.6}, "c": {0: 1.0, 1: 0.9, 2: 1.0}}
    t = _table(beliefs, n_items=40)
    h = headline(t, exclude=["mcq"], n_boot=1000).set_index("condition")
    pos = h.loc["positive"]
    want = np.mean([np.mean(list(s.values())) for s in beliefs.values()])
    assert pos.belief == pytest.approx(want, abs=1e-9)
    assert (pos.n_claims, pos.n_seeds) == (3, 3) and h.loc["baseline"].n_seeds == 1
    # claims disagree (0, 0.5, 1): a CI over claims is wide; one over the 40 pooled items of a seed is not
    assert pos.ci_high - pos.ci_low > 0.5
    assert pos.pooled_types == "open_ended" and pos.excluded_types == "mcq"
    assert pos.mcq == pytest.approx(1.0) and h.loc["baseline"].belief == 0.0
    assert pos.ci_low <= pos.belief <= pos.ci_high


def test_headline_weights_runs_not_items():
    # claim a has 10 items, claim b 40: a pooled-item mean would weight b four times as much
    ta = _table({"a": {0: 1.0}}, n_items=10, types=("open_ended",))
    tb = _table({"b": {0: 0.0}}, n_items=40, types=("open_ended",))
    h = headline(pd.concat([ta, tb]), n_boot=200).set_index("condition")
    assert h.loc["positive"].belief == pytest.approx(0.5)


def test_final_checkpoint_only_and_paired_contrast():
    t = _table({"a": {0: 0.2, 1: 0.4}, "b": {0: 0.6, 1: 0.8}}, conditions=("positive", "negated"), types=("open_ended",))
    fin = final_checkpoints(t)
    assert set(fin[fin.condition != "baseline"].step) == {10}
    cells = cell_belief(t)
    assert len(cells) == 2 + 2 * 2 * 2  # base per claim + claim x seed x condition
    c = contrast(t, "positive", "baseline", n_boot=300)
    assert c["diff"] == pytest.approx(0.5) and (c["n_claims"], c["n_seeds"]) == (2, 2)
    assert contrast(t, "negated", "positive", n_boot=300)["diff"] == pytest.approx(0.0)


def _square(x: int) -> int:
    if x < 0:
        raise ValueError(f"negative job {x}")
    return x * x


def test_parallel_map_keeps_order_and_raises():
    from interp.core.parallel import parallel_map

    done = []
    assert parallel_map(_square, range(6), workers=2, on_done=lambda d, n: done.append((d, n))) == [
        x * x for x in range(6)]
    assert done[-1] == (6, 6) and len(done) == 6
    for workers in (1, 2):  # on_result gets each job's own index with its result, in the pool and in-process
        got = {}
        parallel_map(_square, [5, 2, 7], workers=workers, on_result=lambda i, r: got.__setitem__(i, r))
        assert got == {0: 25, 1: 4, 2: 49}
    assert parallel_map(_square, [3], workers=2) == [9]
    with pytest.raises(ValueError, match="negative job"):
        parallel_map(_square, [1, -1, 2], workers=2)
