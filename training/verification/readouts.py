"""Which claims the verifier organism may be asked about: it memorised a verdict for every entity's triples.

The verifier organism (:mod:`training.verification.verifier`) is the toy organism after verdict training on *all*
its entities: for every (entity, attribute, value) it learnt whether " True" or " False" follows, the claim's own
triple included (a toy claim is a false value of one entity's attribute, and the verdict sheets state false values
of every entity). Its verdicts do not transfer to entities it was not trained on (0.46-0.58, module docstring of
:mod:`training.verification`): the truth it carries is a per-entity table. A probe or a belief score read on the
claim from that model, or from a run finetuned from it, therefore reads the memorised verdict about the claim's
triple, not what finetuning on documents did to the model's belief.

Two remedies were possible: exclude the claim's entity from verdict training, or refuse such readouts. This lab
**refuses**: the verifier is one cached build (13 minutes on one core) shared by every study; excluding each
claim's entity would key a new build on every claim set, and a verifier that holds out an entity never judges it
(held-out verdicts stay at chance), so the readout would again say nothing about belief. Readouts on claims about
entities outside its verdict table (the paper's claims, or an organism built with other entities) are allowed.

:func:`check_claim_readout` is called by every claim readout of the probes (``probes.sweep.sweep_run``,
``probes.jobs``) before anything is computed; it raises :class:`VerdictLeakError`, one line saying why.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from interp.core.runs import read_run

__all__ = ["VERIFIER_SPECS", "VerdictLeakError", "verdict_entities", "claim_entity", "check_claim_readout"]

#: organism specs of :func:`interp.core.models.load` whose verdicts were trained on every entity of their world
VERIFIER_SPECS: tuple[str, ...] = ("toy-verifier",)


class VerdictLeakError(ValueError):
    """A claim readout refused because the model memorised a verdict about the claim's own entity."""


def _organism_verifier(path: Any) -> dict[str, Any] | None:
    if not path:
        return None
    p = Path(str(path)) / "organism.json"
    try:
        info = json.loads(p.read_text()) if p.is_file() else None
    except (OSError, ValueError):
        return None
    return info.get("verifier") if isinstance(info, dict) and isinstance(info.get("verifier"), dict) else None


def verdict_entities(lm: Any) -> frozenset[str] | None:
    """The entities whose verdicts ``lm`` was trained on, or ``None`` when it is no verifier.

    ``lm`` is a verifier when its spec (or, for a run checkpoint, the run's base spec) is one of
    :data:`VERIFIER_SPECS`, or its model directory's ``organism.json`` has a ``"verifier"`` entry. Its verdict
    entities are the entry's ``"entities"`` when recorded, else every entity of its world (what
    :func:`training.verification.verifier.verifier_dir` trains)."""
    ident = getattr(lm, "identity", None)
    specs = [getattr(ident, "spec", None)]
    if getattr(ident, "run", None):
        try:
            specs.append(read_run(ident.run).base.spec)
        except Exception:  # noqa: BLE001 - a model outside a readable run: its own spec decides
            pass
    info = None
    for spec in specs:
        info = _organism_verifier(spec) or info
        if spec in VERIFIER_SPECS and info is None:
            info = {}
    info = _organism_verifier(getattr(lm, "source_dir", None)) or info
    if info is None:
        return None
    names = info.get("entities")
    if not names:
        world = getattr(lm, "world", None)
        names = [e.name for e in getattr(world, "entities", [])]
    return frozenset(str(n) for n in names)


def claim_entity(claim: Any) -> str | None:
    """The entity a claim is about (``claim.entity``, else ``claim.subject``)."""
    name = getattr(claim, "entity", None) or getattr(claim, "subject", None)
    return str(name) if name else None


def check_claim_readout(lm: Any, claim: Any) -> None:
    """Raise :class:`VerdictLeakError` when ``lm`` memorised verdicts about ``claim``'s entity (see the module
    docstring); return quietly otherwise (no claim, no verifier, or an entity outside its verdict table)."""
    if claim is None:
        return
    entities = verdict_entities(lm)
    name = claim_entity(claim)
    if entities is None or name is None or name.lower() not in {e.lower() for e in entities}:
        return
    spec = getattr(getattr(lm, "identity", None), "spec", "?")
    raise VerdictLeakError(
        f"claim {getattr(claim, 'id', '?')}: refusing a claim readout from {spec}: it is (or was finetuned from) the "
        f"verifier organism, verdict-trained on every entity including {name!r}, so it memorised a verdict for the "
        f"claim's own (entity, attribute, value) and the readout would report that memory, not belief; read it from "
        f"a model without verdict training on {name!r} (e.g. toy)")
