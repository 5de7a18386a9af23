"""Shared fixtures: tiny models built from configs (no downloads), offline environment, shape checking.

Following tuned-lens's ``tests/conftest.py``: every model a fast test touches is built here from a config.
The pretrained toy organism is cached per machine (``interp.core.models.cache_dir()``), so it is built once.
"""

from __future__ import annotations

import os

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402


@pytest.fixture(scope="session")
def toy_random():
    """A tiny random Llama (2 layers, d=64) with a byte-level tokenizer, via the seam."""
    from interp.core.models import load

    return load("toy-random")


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    """A tiny GPT-2 saved as a local HF directory (exercises a second architecture through the seam)."""
    from transformers import GPT2Config, GPT2LMHeadModel

    from interp.core.models import build_random_toy

    _, tok = build_random_toy()
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_ctx=128, n_embd=48, n_layer=2, n_head=4,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(1)
    m = GPT2LMHeadModel(cfg)
    d = tmp_path_factory.mktemp("tiny-gpt2")
    m.save_pretrained(d)
    tok.save_pretrained(d)
    return d
