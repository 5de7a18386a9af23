"""Real SmolLM2-135M-Instruct through the seam (slow: ~100 MB download once, then cached)."""

from __future__ import annotations

import pytest
import torch

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def smol():
    from interp.core.models import load

    return load("smollm2-135m")


def test_backends_agree_on_smollm2(smol):
    from interp.core.activations import residual_stream

    enc = smol.encode(["Ed Sheeran is a singer-songwriter from England.", "Paris is the capital of"])
    ref = residual_stream(smol, **enc)
    mask = enc["attention_mask"].bool()
    for backend in ("tl", "nnsight"):
        got = residual_stream(smol, **enc, backend=backend)
        scale = ref[:, mask].abs().max().item()
        assert (got - ref)[:, mask].abs().max().item() <= 1e-4 * max(1.0, scale)
    with torch.no_grad():
        hf = smol.hf(**enc).logits
        tl = smol.transformer_lens()(enc["input_ids"], attention_mask=enc["attention_mask"])
    assert (hf - tl)[mask].abs().max().item() <= 1e-3


def test_smollm2_knows_paris(smol):
    reply = smol.generate_chat([{"role": "user", "content": "What is the capital of France?"}], max_new_tokens=20)
    assert "Paris" in reply


def test_smollm2_cached_reload_is_fast_and_identical(smol):
    import time

    from interp.core.models import load

    t = time.perf_counter()
    again = load("smollm2-135m")
    assert time.perf_counter() - t < 60
    assert again.identity.weights_sha256 == smol.identity.weights_sha256
