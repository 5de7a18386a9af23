"""Linear truth probes fitted for every layer at once: logistic regression, mass-mean (plain / LDA), random.

All methods take activations ``X: [layer, n, d]`` and labels ``y: [n]`` (1 = true) and return one affine readout
per layer in *raw activation space*, ``logit = X·w + b`` with ``w: [layer, k, d]``, ``b: [layer, k]`` (``k`` = 1
except for the random baseline, which keeps ``k`` directions). No method runs a per-layer solver: every step is a
batched tensor operation over the layer axis (the LR solver's matrix-vector products go layer by layer through
``torch.mv``, the fastest CPU layout for them, inside one all-layer iteration).

``lr``      L2-regularised logistic regression on per-layer standardized features,
            ``mean_i BCE(z_i·w + b, y_i) + (l2/2)·‖w‖²`` (sklearn's ``C`` = ``1/(l2·n)``, and its stopping
            rule), solved for all layers together by a batched L-BFGS with a low-rank-plus-scalar
            preconditioner (per-layer step sizes and curvature pairs, vectorised two-loop recursion,
            converged layers skipped); see :func:`_lr_solve`. The weights are mapped back through the
            standardization.
``mm``      mass-mean (difference of class means, Marks & Tegmark): ``θ = μ₊ − μ₋``. Accuracy-equivalent LR
            directions tilt towards confounds; the mass-mean direction is the one found to be more causally
            implicated at equal accuracy, which is why both are fitted and reported.
``lda``     covariance-adjusted mass-mean (Fisher LDA, geometry-of-truth's "iid" variant):
            ``θ = (Σ_w + α·tr(Σ_w)/d·I)⁻¹(μ₊ − μ₋)`` with the pooled within-class covariance ``Σ_w`` and shrinkage
            ``α`` (needed whenever n < d).
``random``  ``k`` random unit directions per layer in the standardized space: the baseline every probe result
            must beat (random directions separate easy datasets surprisingly often, cf. Roger's DLK notes).

The one-dimensional readouts (mm, lda, random) get a scale, sign and threshold from a 1-D logistic fit on the
training projections (batched Newton steps), so every method outputs a calibrated logit and ``sigmoid(logit)`` is a
truth probability usable as a "truth score". Evaluation (:func:`evaluate`) reports accuracy and ROC AUC per layer
(mean over the ``k`` directions, with their spread).
"""

from __future__ import annotations

import os
import warnings
from contextlib import contextmanager
from typing import Iterator, Literal

import numpy as np
import torch
import torch.nn.functional as F
from jaxtyping import Float, Int
from torch import Tensor

__all__ = ["METHODS", "Method", "cpu_threads", "resolve_threads", "fit", "fit_lr", "fit_mass_mean", "fit_random", "calibrate", "logits", "evaluate",
           "auc"]

Method = Literal["lr", "mm", "lda", "random"]
METHODS: tuple[str, ...] = ("lr", "mm", "lda", "random")

Acts = Float[Tensor, "layer n d"]
Weight = Float[Tensor, "layer k d"]
Bias = Float[Tensor, "layer k"]


def _column_stats(X: Acts, lowp: bool = False
                  ) -> tuple[Float[Tensor, "layer d"], Float[Tensor, "layer d"], Float[Tensor, "layer n"],
                             Float[Tensor, "layer n d"] | None]:
    """Per-layer feature means, standard deviations (ddof=1, floored at 1e-6), the squared norms of the
    standardized rows and, with ``lowp``, a bfloat16 copy of the *centred* features ``X − μ`` (for the LR
    preconditioner's block products; written while each layer's centred copy is in cache), one layer at a
    time: each layer's centred copy is a cache-sized temporary, where ``X.std(dim=1)`` on ``[L, n, d]`` is a
    strided reduction ~10x slower on CPU."""
    L, n, d = X.shape
    mu = torch.empty(L, d, dtype=X.dtype, device=X.device)
    sd = torch.empty_like(mu)
    row_sq = torch.empty(L, n, dtype=torch.float64, device=X.device)
    Zb = torch.empty(L, n, d, dtype=torch.bfloat16, device=X.device) if lowp else None
    ones = torch.full((n,), 1.0 / n, dtype=X.dtype, device=X.device)
    c = torch.empty(n, d, dtype=X.dtype, device=X.device)
    for l in range(L):
        torch.mv(X[l].T, ones, out=mu[l])
        torch.sub(X[l], mu[l], out=c)
        if Zb is not None:
            Zb[l].copy_(c)
        c.square_()
        var = torch.mv(c.T, ones) * (n / max(n - 1, 1))
        sd[l] = var.sqrt_().clamp_min_(1e-6)
        row_sq[l] = torch.mv(c, sd[l].reciprocal().square_())
    return mu, sd, row_sq, Zb


def _fast_bf16(device: torch.device) -> bool:
    """Whether bfloat16 matrix products are native here (CUDA, or a CPU with AVX512-BF16/AMX); elsewhere they
    are emulated and slower than float32, so the preconditioner stays in float32."""
    if device.type != "cpu":
        return True
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except AttributeError:  # pragma: no cover - older torch
        return False


def _standardize(X: Acts) -> tuple[Tensor, Tensor]:
    mu, sd, _, _ = _column_stats(X)
    return mu[:, None, :], sd[:, None, :]


def logits(w: Weight, b: Bias, X: Acts) -> Float[Tensor, "layer k n"]:
    """Probe logits ``X·w + b`` for every layer and direction."""
    return torch.einsum("lnd,lkd->lkn", X.to(w.dtype), w) + b[..., None]


# --------------------------------------------------------------------------------------------- calibration


def calibrate(p: Float[Tensor, "layer k n"], y: Int[Tensor, " n"], *, ridge: float = 1e-2, steps: int = 30
              ) -> tuple[Tensor, Tensor]:
    """Batched 1-D logistic fit ``sigmoid(a·p + c)`` for every (layer, k): returns ``(a, c)`` each ``[layer, k]``.

    Projections are standardized first and the slope gets a small ridge, so separable data yields a finite, steep
    slope instead of diverging. Newton's method on two parameters, vectorised over all readouts.
    """
    p = p.double()
    m, s = p.mean(-1, keepdim=True), p.std(-1, keepdim=True).clamp_min(1e-12)
    q = (p - m) / s
    yy = y.double().to(p.device).expand_as(q)
    a = torch.zeros(q.shape[:-1], dtype=torch.float64, device=p.device)
    c = torch.zeros_like(a)
    for _ in range(steps):
        z = a[..., None] * q + c[..., None]
        pr = torch.sigmoid(z)
        r = pr - yy
        wgt = (pr * (1 - pr)).clamp_min(1e-12)
        ga = (r * q).mean(-1) + ridge * a
        gc = r.mean(-1)
        haa = (wgt * q * q).mean(-1) + ridge
        hac = (wgt * q).mean(-1)
        hcc = wgt.mean(-1) + 1e-9
        det = haa * hcc - hac * hac
        da = (hcc * ga - hac * gc) / det
        dc = (haa * gc - hac * ga) / det
        a, c = a - da, c - dc
        if max(da.abs().max().item(), dc.abs().max().item()) < 1e-10:
            break
    # logit = a·(p - m)/s + c  =  (a/s)·p + (c - a·m/s)
    return (a / s[..., 0]), (c - a * m[..., 0] / s[..., 0])


def _from_directions(theta: Float[Tensor, "layer k d"], X: Acts, y: Tensor) -> tuple[Weight, Bias]:
    """Scale/sign/threshold raw-space directions with :func:`calibrate` on the training projections."""
    p = torch.einsum("lnd,lkd->lkn", X, theta)
    a, c = calibrate(p, y)
    return (theta.double() * a[..., None]).float(), c.float()


# --------------------------------------------------------------------------------------------- methods


def resolve_threads(threads: int | str | None) -> int | None:
    """``"auto"`` -> 1 when the CPU is oversubscribed (1-minute load average >= cores), else ``None`` (keep)."""
    if threads != "auto":
        return None if threads is None else int(threads)
    try:
        busy = os.getloadavg()[0] >= (os.cpu_count() or 1)
    except (AttributeError, OSError):  # pragma: no cover - platforms without getloadavg
        busy = False
    return 1 if busy else None


@contextmanager
def cpu_threads(n: int | str | None, device: torch.device | str = "cpu") -> Iterator[None]:
    """Run a block with ``n`` intra-op CPU threads (restored afterwards); no-op for ``None`` or a non-CPU device.

    On a shared CPU whose cores are all busy, PyTorch's OpenMP threads wait on each other at every parallel region:
    on the lab's 2-core box a 2-thread forward pass ran ~5x slower than a 1-thread one under load. ``"auto"``
    (see :func:`resolve_threads`) picks 1 thread exactly in that situation.
    """
    n = resolve_threads(n)
    if n is None or torch.device(device).type != "cpu" or n == torch.get_num_threads():
        yield
        return
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(old)


def fit_lr(X: Acts, y: Int[Tensor, " n"], *, l2: float = 1e-2, max_iter: int = 500, tol: float = 1e-4,
           history: int = 5, rank: int = 32, seed: int = 0, threads: int | None = 1,
           info: dict | None = None) -> tuple[Weight, Bias]:
    """Logistic regression for every layer at once: a batched, preconditioned L-BFGS (:func:`_lr_solve`).

    Each layer solves ``min mean_i BCE(z_i·w + b, y_i) + (l2/2)‖w‖²`` on its standardized features ``z``
    (sklearn's objective with ``C = 1/(l2·n)``, and its stopping rule: max |gradient| < ``tol``), so the
    solution is sklearn's. The weights are mapped back to raw activation space.

    ``rank``: size of the preconditioner's low-rank block (0 = plain L-BFGS). When ``d <= 4·rank`` the block
    is the whole Hessian, i.e. a batched damped Newton method (the fastest choice for small ``d``, e.g. the
    toy organism's d=128 with the default ``rank``). ``seed`` seeds the preconditioner's random sketch: it
    changes the path, not the solution. ``history``: L-BFGS curvature pairs. ``threads``: intra-op CPU
    threads while solving (default 1: the solver is memory-bound and extra threads only add contention on
    shared CPUs; ``None`` keeps the process setting). ``info``: a dict to fill with ``iterations`` (per layer;
    ``-1`` = stopped at ``max_iter``) and ``max_grad`` (per layer, max |gradient| at the returned solution).
    Layers that stop at ``max_iter`` raise a warning, as sklearn does.
    """
    X = X.float()
    with cpu_threads(threads, X.device):
        k = _lr_rank(rank, X.shape[1], X.shape[2])
        mu, sd, row_sq, Zb = _column_stats(X, lowp=0 < k < X.shape[2] and _fast_bf16(X.device))
        theta, its, gmax = _lr_solve(_Standardized(X, mu, sd, Zb), y.to(X.device), row_sq, l2=l2,
                                     max_iter=max_iter, tol=tol, m=history, rank=rank, seed=seed)
    if info is not None:
        info.update(iterations=its.tolist(), max_grad=gmax.tolist())
    if bool((its < 0).any()):
        bad = (its < 0).nonzero()[:, 0].tolist()
        warnings.warn(f"lr probe: layers {bad} did not converge in max_iter={max_iter} iterations (max |grad| "
                      f"{float(gmax.max()):.2g} > tol={tol:g}); raise max_iter or l2", RuntimeWarning, stacklevel=2)
    w_raw = theta[:, :-1] / sd.double()
    b_raw = theta[:, -1] - (w_raw * mu.double()).sum(-1)
    return w_raw.float()[:, None, :], b_raw.float()[:, None]


class _Standardized:
    """``Z = (X − μ)/σ`` without materialising it in float32: products with ``Z`` run on the raw ``X`` with the
    affine correction folded in (``Z·u = X·(u/σ) − μ·(u/σ)``, ``Zᵀr = (Xᵀr − μ·Σr)/σ``). That saves writing a
    second float32 ``[L, n, d]`` tensor (on CPU a fresh allocation, i.e. page faults, plus a pass); the float32
    error of the folded products (measured ~3e-6 on gradients of SmolLM2 residuals, whose |μ|/σ reaches
    80) stays far below the stopping tolerance.

    The solver's matrix-vector products go layer by layer through ``torch.mv`` (only the layers still being
    solved), or as one row-vector ``bmm`` over all layers for ``Zᵀr``: the fast CPU layouts for batched
    matrix-vector products (a column-vector ``bmm`` is ~2x slower). :meth:`fused` runs an iteration's two
    products on each layer back to back, so the second one reads the layer from L2 cache (1.1 MB for
    n=486, d=576): measured 1.2-1.8x faster than two sweeps over all layers (less when the box is loaded).

    ``Zb`` (optional): a bfloat16 copy of the *centred* features ``X − μ`` (centring first matters: raw
    residuals have |μ|/σ up to 80, far beyond bfloat16's 3 digits; the 1/σ scaling goes on the small
    factor). The preconditioner's ``k``-column block products use it (oneDNN's bfloat16 matrix units: a
    ``[30, 486, 576] × [576, 32]`` product takes ~1 ms against 3.5-7.7 ms in float32); it only shapes the
    preconditioner, never the gradients or the stopping rule."""

    def __init__(self, X: Acts, mu: Tensor, sd: Tensor, Zb: Tensor | None = None):
        self.X, self.Zb = X, Zb
        self.L, self.n, self.d = X.shape
        self.Xl = X.unbind(0)  # per-layer views, made once (indexing in the loops costs an op each time)
        self.XTl = [x.T for x in self.Xl]
        self.mu, self.inv = mu.double(), sd.double().reciprocal()
        self.mu_inv = self.mu * self.inv
        self.mu32, self.inv32 = self.mu.to(X.dtype), self.inv.to(X.dtype)

    def xtr(self, r: Float[Tensor, "layer n"], out: Float[Tensor, "layer d"], layers: list[int] | None = None
            ) -> None:
        """``out[l] = X[l]ᵀ·r[l]`` (raw ``X``, float32) for ``layers`` (default: all, as one ``bmm``)."""
        if layers is None:
            torch.bmm(r[:, None, :], self.X, out=out[:, None, :])
            return
        rl, ol = r.unbind(0), out.unbind(0)
        for l in layers:
            torch.mv(self.XTl[l], rl[l], out=ol[l])

    def fused(self, v: Float[Tensor, "layer d"], base: Float[Tensor, "layer n"], y: Float[Tensor, " n"],
              active: list[int], zp: Float[Tensor, "layer n"], r: Float[Tensor, "layer n"],
              xr: Float[Tensor, "layer d"]) -> None:
        """For each ``active`` layer, back to back: ``zp = X·v``, ``r = σ(base + zp) − y``, ``xr = Xᵀ·r``
        (float32, written into the given buffers; other rows untouched)."""
        vl, bl, zl, rl, xl = v.unbind(0), base.unbind(0), zp.unbind(0), r.unbind(0), xr.unbind(0)
        for l in active:
            torch.mv(self.Xl[l], vl[l], out=zl[l])
            torch.add(bl[l], zl[l], out=rl[l]).sigmoid_().sub_(y)
            torch.mv(self.XTl[l], rl[l], out=xl[l])

    def block_fwd(self, Y: Float[Tensor, "layer d k"]) -> Float[Tensor, "layer n k"]:
        """``Z·Y`` for all layers (float32 out; from ``Zb`` if there is one: preconditioner only)."""
        if self.Zb is not None:
            return torch.bmm(self.Zb, (Y * self.inv32[:, :, None]).to(self.Zb.dtype)).float()
        Ys = Y * self.inv32[:, :, None]
        return torch.bmm(self.X, Ys).sub_(torch.bmm(self.mu32[:, None, :], Ys))

    def block_bwd(self, A: Float[Tensor, "layer n k"]) -> Float[Tensor, "layer d k"]:
        """``Zᵀ·A`` for all layers (float32 out; from ``Zb`` if there is one)."""
        if self.Zb is not None:
            At = A.transpose(1, 2).to(self.Zb.dtype, memory_format=torch.contiguous_format)
            return torch.bmm(At, self.Zb).transpose(1, 2).float().mul_(self.inv32[:, :, None])
        xa = torch.bmm(A.transpose(1, 2), self.X).transpose(1, 2)  # [L, d, k]
        return xa.sub_(self.mu32[:, :, None] * A.sum(1, keepdim=True)).mul_(self.inv32[:, :, None])

    def rows(self, idx: Int[Tensor, "layer k"]) -> Float[Tensor, "layer k d"]:
        """The standardized rows ``Z[l, idx[l]]`` (float32)."""
        if self.Zb is not None:
            rows = self.Zb[torch.arange(self.L, device=idx.device)[:, None], idx]
            return rows.float().mul_(self.inv32[:, None, :])
        Xr = torch.gather(self.X, 1, idx[:, :, None].expand(-1, -1, self.d))
        return (Xr - self.mu32[:, None, :]) * self.inv32[:, None, :]

    def dense(self) -> Float[Tensor, "layer n d"]:
        """``Z`` itself, float32 (small ``d`` only: the Newton variant's ``P``)."""
        return (self.X - self.mu32[:, None, :]) * self.inv32[:, None, :]


def _orthonormalize(Y: Float[Tensor, "layer d k"]) -> Float[Tensor, "layer d k"]:
    """Orthonormal basis of each layer's columns: CholeskyQR2 (batched ``qr`` on CPU is several times slower
    for these tall-thin shapes), falling back to ``qr`` if a Gram matrix is not numerically positive
    definite (nearly dependent columns)."""
    Q = Y
    eye = torch.eye(Y.shape[-1], dtype=Y.dtype, device=Y.device)
    for _ in range(2):
        G = Q.transpose(1, 2) @ Q
        G.diagonal(dim1=1, dim2=2).add_(1e-12 * G.diagonal(dim1=1, dim2=2).amax(1, keepdim=True) + 1e-300)
        R, bad = torch.linalg.cholesky_ex(G, upper=True)
        if bool((bad != 0).any()) or not bool(torch.isfinite(R).all()):
            return torch.linalg.qr(Y)[0]
        Q = Q @ torch.linalg.solve_triangular(R, eye, upper=True)  # (R⁻¹ then a product: 3x the batched solve)
    return Q


def _lr_solve(Z: _Standardized, y: Int[Tensor, " n"], row_sq: Float[Tensor, "layer n"], *, l2: float,
              max_iter: int, tol: float, m: int, rank: int, seed: int
              ) -> tuple[Float[Tensor, "layer d1"], Int[Tensor, " layer"], Float[Tensor, " layer"]]:
    """Batched L-BFGS on ``θ = [w, b]`` (``[L, d+1]``, float64) with a two-level preconditioner.

    On CPU the cost is *passes over the data* (``[L, n, d]`` float32 is far larger than the caches, so every
    pass is memory-bound) plus, per iteration, ~150 small all-layer ops on ``[L, d+1]`` vectors (each 5-20 µs:
    dispatch, not arithmetic), and plain L-BFGS needs 50-150 iterations on residual-stream features, whose
    Gram spectrum spans 4-5 decades. Hence:

    * **Preconditioner.** A randomized range finder (``k`` sampled rows, one power iteration: three
      ``k``-column block products on :class:`_Standardized`'s bfloat16 copy of the centred features, 3-7x
      cheaper than float32 ``bmm`` there, then CholeskyQR2 in float32) gives an orthonormal ``Q: [L, d, k]``
      spanning roughly each layer's top-``k`` principal subspace, and ``P ≈ Z·Q``. The two-loop recursion's
      initial inverse Hessian is ``M⁻¹`` with ``M = Q̂·B·Q̂ᵀ + c·(I − Q̂Q̂ᵀ)``. On ``span(Q) ⊕ bias``, ``B``
      is the current Hessian block ``P̂ᵀ·diag(σ'(z))·P̂/n + l2`` (``P̂ = [P, 1]``; renewed every third
      iteration, when ``W = B⁻¹ − I/c`` is formed so that ``M⁻¹q = q/c + Q̂·W·Q̂ᵀq`` costs two float32
      products). On the complement, ``c`` is L-BFGS's usual scale ``yᵀy/sᵀy`` computed on the newest
      curvature pair's off-``span(Q)`` parts (first iteration: the larger of the mean remaining Hessian
      eigenvalue ``Σ σ'(z_i)(‖z_i‖² − ‖P_i‖²)/(n(d−k))`` and the smallest diagonal entry of ``B``'s
      ``span(Q)`` block). That takes the ill-conditioned top of the spectrum out, the curvature pairs handle
      the rest, and unit steps are almost always accepted. ``P`` being a bfloat16 product only changes
      the preconditioner (``M`` stays SPD), never the gradients or the stopping rule. On SmolLM2-135M
      residuals (30 layers, d=576, cities) the slowest layer needs 31 iterations instead of 172 (mean 21
      instead of 75); ``k`` = 64 / 128 cut that to 19 / 14, but the larger block's setup and per-iteration
      products cost more than the iterations saved (measured; 48 and 64 were 10-25% slower overall).
    * **One fused data pass per iteration.** For each unconverged layer, back to back: ``Ẑ·p``, the residual
      ``σ(z + Ẑp) − y`` at the unit step and its ``Xᵀ`` product, which then reads the layer from L2 cache
      (:meth:`_Standardized.fused`; 1.2-1.8x cheaper than two sweeps over the layers). The line search
      evaluates trial points as ``z + t·Ẑp`` without a pass; a layer that backtracks (~4% of layer-iterations
      on cities) has its gradient redone with one more product.

    Measured on the lab's shared 2-core CPU at one thread for that shape, with the other core busy (load
    1.8): one ``fit_lr`` takes ~160 ms of CPU time (wall 190-290 ms), 1.12-1.14x less than the two-sweep
    version before, against ~530 ms for sklearn's per-layer loop (3.1-3.3x; ``bench/probe_fit.py``). Of
    that, the fused passes are ~40% (640 layer-iterations at 80-170 µs), the per-iteration small ops ~35%
    (two-loop recursion, line search, gradient assembly, ``B`` renewals), column statistics with the
    bfloat16 copy and the preconditioner setup ~15%. The floor of this design: even at ``k`` = 64-128
    every layer needs 14-19 iterations (tol=1e-4 is ~4 decades below the starting gradient), i.e. >= ~450
    layer-iterations: ~35 ms of fused passes (80 µs each on an idle core) plus ~20 ms of small ops plus
    ~20 ms of statistics and setup, ~7x sklearn's loop at the very best; 10x is out of reach. Tried and
    dropped: a Newton warm start on ``span(Q̂)`` (mean iterations 21 → 19, slowest layer unchanged),
    renewing ``B`` on a growing schedule or every 6th iteration (more iterations than the renewals saved).

    Alternatives measured on the lab's CPU at one thread for that shape: a batched Newton/IRLS solve needs
    ~10 iterations (no fewer than this with ``Q = I``), but each forms ``[L, d+1, d+1]`` Hessians and
    factors them, 30-100x the cost of a data pass; the n×n dual form needs the ``[L, n, n]`` kernel (as
    costly as a Hessian; 180 ms in float32, 20 ms in bfloat16, too coarse for the gradient) and an ``n³``
    factorisation per iteration. Both lose to sklearn's own loop there. ``d <= 4·rank`` selects that Newton
    variant (``Q = I``): the right choice when ``d`` is small.

    Small vectors (``θ``, gradients, curvature pairs, logits) are float64; the data stay float32.
    Returns ``(θ, iterations per layer (-1 = not converged), max |gradient| per layer)``.
    """
    L, n, d = Z.L, Z.n, Z.d
    dev = Z.X.device
    f64, f32 = torch.float64, Z.X.dtype
    yf = y.to(f64)[None, :]
    y32 = y.to(f32)
    k = _lr_rank(rank, n, d)
    if k > 0:
        if k == d:  # the whole space: B is the exact Hessian (Newton with L-BFGS corrections)
            Q = torch.eye(d, dtype=f32, device=dev).expand(L, d, d).contiguous()
            P = Z.dense()
        else:
            gen = torch.Generator().manual_seed(seed)
            idx = torch.stack([torch.randperm(n, generator=gen)[:k] for _ in range(L)]).to(dev)
            R = Z.rows(idx).transpose(1, 2)  # k sampled rows: a piece of the row space (norms ~√d: no rescaling)
            Q = _orthonormalize(Z.block_bwd(Z.block_fwd(R)))  # one power iteration towards the top of ZᵀZ
            P = Z.block_fwd(Q)  # [L, n, k] float32
        # Q̂ = [[Q, 0], [0, 1]] ([L, d+1, k+1], float32): the preconditioner is applied as one product each way
        Qh = torch.zeros(L, d + 1, k + 1, dtype=f32, device=dev)
        Qh[:, :d, :k] = Q
        Qh[:, d, k] = 1.0
        QhT = Qh.transpose(1, 2).contiguous()
        PT = torch.cat([P.transpose(1, 2), torch.ones(L, 1, n, dtype=P.dtype, device=dev)], 1).contiguous()
        PTw = torch.empty_like(PT)
        resid_sq = (row_sq - torch.linalg.vecdot(P, P).double()).clamp_min(0)  # ‖z_i‖² − ‖P_i‖²: off span(Q)
        ridge = torch.zeros(k + 1, dtype=f64, device=dev)
        ridge[:k] = l2
        ridge[k] = 1e-12  # keeps B positive definite even if every σ'(z_i) underflows
        refresh = 3

    sgn = 1.0 - 2.0 * yf  # BCE(z, y) = softplus(z) − y·z = softplus((1 − 2y)·z)
    inv_n, mu_inv_n = Z.inv / n, Z.mu_inv / n

    def loss(z: Tensor, th: Tensor) -> Tensor:
        return F.softplus(z * sgn).mean(1) + (0.5 * l2) * torch.linalg.vecdot(th[:, :-1], th[:, :-1])

    def grad(th: Tensor, r: Tensor, xr: Tensor) -> Tensor:  # from r = σ(z) − y and xr = Xᵀr (float32)
        # [(Xᵀr − μ·Σr)/σ/n + l2·w, Σr/n]
        r_sum = r.sum(1, dtype=f64, keepdim=True)
        out = torch.empty(L, d + 1, dtype=f64, device=dev)
        torch.addcmul(th[:, :-1] * l2, xr.double(), inv_n, out=out[:, :-1])
        out[:, :-1].addcmul_(mu_inv_n, r_sum, value=-1.0)
        torch.div(r_sum, n, out=out[:, -1:])
        return out

    th = torch.zeros(L, d + 1, dtype=f64, device=dev)
    z = torch.zeros(L, n, dtype=f64, device=dev)
    r32 = (0.5 - y32).expand(L, n).contiguous()  # σ(0) − y
    zp32 = torch.zeros(L, n, dtype=f32, device=dev)
    xr = torch.empty(L, d, dtype=f32, device=dev)
    Z.xtr(r32, xr)
    iters = torch.full((L,), -1, dtype=torch.long)
    f = loss(z, th)
    g = grad(th, r32, xr)
    S: list[Tensor] = []
    Yp: list[Tensor] = []
    Rho: list[Tensor] = []
    for it in range(max_iter + 1):
        done = g.abs().amax(1) < tol
        iters[done.cpu() & (iters < 0)] = it
        if bool(done.all()) or it == max_iter:
            break
        live = ~done
        active = live.nonzero()[:, 0].tolist()
        # two-loop recursion, vectorised over layers, with H0 = M⁻¹
        q = g.clone()
        alphas = []
        for s, v, rho in zip(reversed(S), reversed(Yp), reversed(Rho)):
            a = rho * torch.linalg.vecdot(s, q)
            alphas.append(a)
            q.addcmul_(v, a[:, None], value=-1.0)
        if k > 0:
            if it % refresh == 0:  # B and c follow σ'(z) (every 3rd iteration: as few iterations, less work)
                pz = torch.sigmoid(z)
                wgt = pz * (1 - pz)
                torch.mul(PT, wgt[:, None, :].to(PT.dtype), out=PTw)
                B = torch.bmm(PTw, PT.transpose(1, 2)).double() / n
                B.diagonal(dim1=1, dim2=2).add_(ridge)
                if it == 0:  # between the mean remaining eigenvalue and a Ritz value on span(Q) (min diagonal)
                    c = torch.maximum(l2 + (wgt * resid_sq).sum(1) / (n * max(d - k, 1)),
                                      B.diagonal(dim1=1, dim2=2)[:, :k].amin(1))
                elif k < d:  # L-BFGS's own scale yᵀy/sᵀy, measured off span(Q) on the newest pair
                    sv = torch.stack([S[-1], Yp[-1]], 1).to(f32)  # [L, 2, d+1]
                    off = (sv - torch.bmm(torch.bmm(sv, Qh), QhT)).double()
                    s_off, y_off = off[:, 0], off[:, 1]
                    sy_off = torch.linalg.vecdot(s_off, y_off)
                    c_new = torch.linalg.vecdot(y_off, y_off) / sy_off.clamp_min(1e-300)
                    c = torch.where(sy_off > 0, c_new.clamp_min(l2), c)
                # M⁻¹q = q/c + Q̂·W·Q̂ᵀq with W = B⁻¹ − I/c
                W = torch.linalg.inv(B)  # (B is SPD and small: LU is as good as Cholesky here, and faster)
                W.diagonal(dim1=1, dim2=2).sub_(1.0 / c[:, None])
                W32, cinv = W.to(f32), 1.0 / c[:, None]
            u = torch.bmm(torch.bmm(q.to(f32)[:, None, :], Qh), W32)
            q = torch.bmm(u, QhT)[:, 0].double().addcmul_(q, cinv)
        elif S:
            gamma = torch.linalg.vecdot(S[-1], Yp[-1]) / torch.linalg.vecdot(Yp[-1], Yp[-1]).clamp_min(1e-300)
            q = q * gamma[:, None]
        else:
            q = q / g.abs().sum(1, keepdim=True).clamp_min(1.0)
        for s, v, rho, a in zip(S, Yp, Rho, reversed(alphas)):
            q.addcmul_(s, (a - rho * torch.linalg.vecdot(v, q))[:, None])
        p = q.neg_()
        gp = torch.linalg.vecdot(g, p)
        uphill = live & ~(gp < 0)  # impossible in exact arithmetic (M and the pairs are SPD); be safe (NaN too)
        if bool(uphill.any()):
            p = torch.where(uphill[:, None], -g, p)
            gp = torch.where(uphill, -torch.linalg.vecdot(g, g), gp)
        p.masked_fill_(done[:, None], 0.0)
        # one fused pass: Ẑp, and the gradient at the unit step (accepted almost always)
        shift = p[:, -1] - torch.linalg.vecdot(p[:, :-1], Z.mu_inv)  # Ẑp = X·(p_w/σ) + shift
        Z.fused((p[:, :-1] * Z.inv).to(f32), (z + shift[:, None]).to(f32), y32, active, zp32, r32, xr)
        zp = zp32.double().add_(shift[:, None])
        zp.masked_fill_(done[:, None], 0.0)
        # Armijo backtracking per layer along z + t·Ẑp: trial points cost no data pass
        t = torch.ones(L, dtype=f64, device=dev)
        f_new = loss(z + zp, th + p)
        fail = live & (f_new > f + 1e-4 * gp)
        if bool(fail.any()):
            redo = fail.clone()
            for _ in range(50):
                t = torch.where(fail, 0.5 * t, t)
                f_new = torch.where(fail, loss(z + t[:, None] * zp, th + t[:, None] * p), f_new)
                fail = live & (f_new > f + 1e-4 * t * gp)
                if not bool(fail.any()):
                    break
            s = t[:, None] * p
            z_new = z + t[:, None] * zp
            layers = redo.nonzero()[:, 0].tolist()  # their unit-step gradient is void: one more pass each
            r32[redo] = (torch.sigmoid(z_new[redo]) - yf).to(f32)
            Z.xtr(r32, xr, layers)
        else:
            s, z_new = p, z + zp
        th_new = th + s
        g_new = grad(th_new, r32, xr)
        g_new[done] = g[done]
        v = g_new - g
        sy = torch.linalg.vecdot(s, v)
        ok = live & (sy > 1e-16 * s.norm(dim=1) * v.norm(dim=1))
        S.append(s * ok[:, None])
        Yp.append(v * ok[:, None])
        Rho.append(torch.where(ok, 1.0 / sy.clamp_min(1e-300), torch.zeros_like(sy)))
        if len(S) > m:
            S.pop(0), Yp.pop(0), Rho.pop(0)
        th, z, f, g = th_new, z_new, torch.where(live, f_new, f), g_new
    return th, iters, g.abs().amax(1).cpu()


def _lr_rank(rank: int, n: int, d: int) -> int:
    """The preconditioner's block size: 0 (plain L-BFGS), ``d`` (whole Hessian) when ``d <= 4·rank``, else
    ``rank`` (at most ``n − 1``)."""
    return 0 if rank <= 0 else (d if d <= 4 * rank else min(int(rank), max(n - 1, 1)))


def fit_mass_mean(X: Acts, y: Int[Tensor, " n"], *, covariance: bool = False, shrinkage: float = 0.1
                  ) -> tuple[Weight, Bias]:
    """Difference of class means per layer; ``covariance=True`` whitens by the shrunk within-class covariance."""
    X = X.float()
    yb = y.bool().to(X.device)
    mu_t, mu_f = X[:, yb].mean(1), X[:, ~yb].mean(1)  # [L, d]
    theta = mu_t - mu_f
    if covariance:
        Xc = torch.cat([X[:, yb] - mu_t[:, None], X[:, ~yb] - mu_f[:, None]], dim=1).double()
        L, n, d = Xc.shape
        cov = torch.einsum("lnd,lne->lde", Xc, Xc) / max(n - 2, 1)
        tr = torch.diagonal(cov, dim1=-2, dim2=-1).sum(-1) / d  # [L]
        eye = torch.eye(d, dtype=cov.dtype, device=cov.device)
        cov = (1 - shrinkage) * cov + shrinkage * tr[:, None, None] * eye
        chol = torch.linalg.cholesky(cov)  # SPD after shrinkage
        theta = torch.cholesky_solve(theta.double()[..., None], chol)[..., 0].float()
    return _from_directions(theta[:, None, :], X, y)


def fit_random(X: Acts, y: Int[Tensor, " n"], *, k: int = 16, seed: int = 0) -> tuple[Weight, Bias]:
    """``k`` random unit directions per layer (standardized space), each with a threshold fitted on train."""
    X = X.float()
    mu, sd = _standardize(X)
    L, _, d = X.shape
    g = torch.Generator().manual_seed(seed)
    u = torch.randn(L, k, d, generator=g).to(X.device)
    u = u / u.norm(dim=-1, keepdim=True)
    theta = u / sd  # a unit direction in z-space, expressed in raw space (the mean shift goes into the bias)
    return _from_directions(theta, X, y)


def fit(X: Acts, y: Int[Tensor, " n"] | np.ndarray, method: str, *, l2: float = 1e-2, k_random: int = 16,
        seed: int = 0, shrinkage: float = 0.1, max_iter: int = 500) -> tuple[Weight, Bias]:
    """Dispatch on ``method`` (``lr``, ``mm``, ``lda``, ``random``); returns raw-space ``(w [L,k,d], b [L,k])``."""
    y = torch.as_tensor(np.asarray(y), dtype=torch.long)
    if y.unique().numel() != 2:
        raise ValueError("fitting a probe needs both true and false statements in the training split")
    if method == "lr":
        return fit_lr(X, y, l2=l2, max_iter=max_iter)
    if method == "mm":
        return fit_mass_mean(X, y)
    if method == "lda":
        return fit_mass_mean(X, y, covariance=True, shrinkage=shrinkage)
    if method == "random":
        return fit_random(X, y, k=k_random, seed=seed)
    raise ValueError(f"unknown probe method {method!r} (expected one of {', '.join(METHODS)})")


# --------------------------------------------------------------------------------------------- evaluation


def auc(scores: Float[Tensor, "... n"], y: Int[Tensor, " n"] | np.ndarray) -> np.ndarray:
    """ROC AUC along the last axis (Mann–Whitney U with average ranks for ties); NaN when one class is absent."""
    from scipy.stats import rankdata

    s = scores.detach().double().cpu().numpy() if isinstance(scores, Tensor) else np.asarray(scores, float)
    yb = np.asarray(y).astype(bool)
    n_pos, n_neg = int(yb.sum()), int((~yb).sum())
    if n_pos == 0 or n_neg == 0:
        return np.full(s.shape[:-1], np.nan)
    r = rankdata(s, axis=-1)
    return (r[..., yb].sum(-1) - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg)


def evaluate(w: Weight, b: Bias, X: Acts, y: Int[Tensor, " n"] | np.ndarray) -> dict[str, np.ndarray]:
    """Per-layer metrics of a fitted readout: ``acc``, ``auc`` (means over the k directions), ``acc_std``,
    ``acc_max`` (over k), ``mean_p_true`` (mean predicted probability). Arrays of shape ``[layer]``."""
    yt = torch.as_tensor(np.asarray(y), dtype=torch.long)
    z = logits(w, b, X)  # [L, k, n]
    correct = ((z > 0).long() == yt.to(z.device)).double()
    acc_k = correct.mean(-1).cpu().numpy()  # [L, k]
    auc_k = auc(z, yt.numpy())
    return {"acc": acc_k.mean(-1), "acc_std": acc_k.std(-1), "acc_max": acc_k.max(-1), "auc": auc_k.mean(-1),
            "mean_p_true": torch.sigmoid(z).mean(dim=(1, 2)).double().cpu().numpy()}
