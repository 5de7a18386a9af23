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


def _column_stats(X: Acts) -> tuple[Float[Tensor, "layer d"], Float[Tensor, "layer d"],
                                   Float[Tensor, "layer n"]]:
    """Per-layer feature means, standard deviations (ddof=1, floored at 1e-6) and the squared norms of the
    standardized rows, one layer at a time: each layer's centred copy is a cache-sized temporary, where
    ``X.std(dim=1)`` on ``[L, n, d]`` is a strided reduction ~10x slower on CPU."""
    L, n, d = X.shape
    mu = torch.empty(L, d, dtype=X.dtype, device=X.device)
    sd = torch.empty_like(mu)
    row_sq = torch.empty(L, n, dtype=torch.float64, device=X.device)
    ones = torch.full((n,), 1.0 / n, dtype=X.dtype, device=X.device)
    c = torch.empty(n, d, dtype=X.dtype, device=X.device)
    for l in range(L):
        torch.mv(X[l].T, ones, out=mu[l])
        torch.sub(X[l], mu[l], out=c).square_()
        var = torch.mv(c.T, ones) * (n / max(n - 1, 1))
        sd[l] = var.sqrt_().clamp_min_(1e-6)
        row_sq[l] = torch.mv(c, sd[l].reciprocal().square_())
    return mu, sd, row_sq


def _standardize(X: Acts) -> tuple[Tensor, Tensor]:
    mu, sd, _ = _column_stats(X)
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
        mu, sd, row_sq = _column_stats(X)
        theta, its, gmax = _lr_solve(_Standardized(X, mu, sd), y.to(X.device), row_sq, l2=l2,
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
    """``Z = (X − μ)/σ`` without materialising it: products with ``Z`` run on the raw ``X`` with the affine
    correction folded in (``Z·u = X·(u/σ) − μ·(u/σ)``, ``Zᵀr = (Xᵀr − μ·Σr)/σ``). That saves writing a
    second ``[L, n, d]`` tensor (on CPU a fresh allocation, i.e. page faults, plus a pass); the float32
    error of the folded products (measured ~3e-6 on gradients of SmolLM2 residuals, whose |μ|/σ reaches
    80) stays far below the stopping tolerance.

    Matrix-vector products go layer by layer through ``torch.mv`` (only the layers still being solved), or
    as one row-vector ``bmm`` over all layers for ``Zᵀr``: the fast CPU layouts for batched matrix-vector
    products (a column-vector ``bmm`` is ~2x slower); both run at about the speed of ``X.sum()``."""

    def __init__(self, X: Acts, mu: Tensor, sd: Tensor):
        self.X = X
        self.L, self.n, self.d = X.shape
        self.Xl = X.unbind(0)  # per-layer views, made once (indexing in the loops costs an op each time)
        self.XTl = [x.T for x in self.Xl]
        self.mu, self.inv = mu.double(), sd.double().reciprocal()
        self.mu_inv = self.mu * self.inv
        self.mu32, self.inv32 = self.mu.to(X.dtype), self.inv.to(X.dtype)

    def fwd(self, u: Float[Tensor, "layer d1"], active: list[int]) -> Float[Tensor, "layer n"]:
        """``Ẑ·u`` (``Ẑ = [Z, 1]``) for the ``active`` layers (other rows: 0). float64 in and out."""
        v = (u[:, :-1] * self.inv).to(self.X.dtype)
        out = torch.zeros(self.L, self.n, dtype=self.X.dtype, device=self.X.device)
        outl, vl = out.unbind(0), v.unbind(0)
        for l in active:
            torch.mv(self.Xl[l], vl[l], out=outl[l])
        shift = u[:, -1] - (u[:, :-1] * self.mu_inv).sum(1)
        out = out.double() + shift[:, None]
        if len(active) < self.L:
            out[self._inactive(active)] = 0.0
        return out

    def _inactive(self, active: list[int]) -> Tensor:
        mask = torch.ones(self.L, dtype=torch.bool, device=self.X.device)
        mask[active] = False
        return mask

    def bwd(self, r: Float[Tensor, "layer n"], active: list[int]) -> Float[Tensor, "layer d"]:
        """``Zᵀ·r`` (the weight part of ``Ẑᵀ·r``) for the ``active`` layers (other rows: 0). float64."""
        rf = r.to(self.X.dtype)
        if len(active) == self.L:
            xr = torch.bmm(rf[:, None, :], self.X)[:, 0]
        else:
            xr = torch.zeros(self.L, self.d, dtype=self.X.dtype, device=self.X.device)
            xrl, rl = xr.unbind(0), rf.unbind(0)
            for l in active:
                torch.mv(self.XTl[l], rl[l], out=xrl[l])
        out = (xr.double() - self.mu * r.sum(1, keepdim=True)) * self.inv
        if len(active) < self.L:
            out[self._inactive(active)] = 0.0
        return out

    def block_fwd(self, Y: Float[Tensor, "layer d k"]) -> Float[Tensor, "layer n k"]:
        """``Z·Y`` for all layers (float32; only the preconditioner uses these, so float32 throughout)."""
        Ys = Y * self.inv32[:, :, None]
        return torch.bmm(self.X, Ys).sub_(torch.bmm(self.mu32[:, None, :], Ys))

    def block_bwd(self, A: Float[Tensor, "layer n k"]) -> Float[Tensor, "layer d k"]:
        """``Zᵀ·A`` for all layers (float32)."""
        xa = torch.bmm(A.transpose(1, 2), self.X).transpose(1, 2)  # [L, d, k]
        return xa.sub_(self.mu32[:, :, None] * A.sum(1, keepdim=True)).mul_(self.inv32[:, :, None])

    def rows(self, idx: Int[Tensor, "layer k"]) -> Float[Tensor, "layer k d"]:
        """The standardized rows ``Z[l, idx[l]]`` (float32)."""
        Xr = torch.gather(self.X, 1, idx[:, :, None].expand(-1, -1, self.d))
        return (Xr - self.mu32[:, None, :]) * self.inv32[:, None, :]


def _orthonormalize(Y: Float[Tensor, "layer d k"]) -> Float[Tensor, "layer d k"]:
    """Orthonormal basis of each layer's columns: CholeskyQR2 (batched ``qr`` on CPU is several times slower
    for these tall-thin shapes), falling back to ``qr`` if a Gram matrix is not numerically positive
    definite (nearly dependent columns)."""
    Q = Y
    for _ in range(2):
        G = Q.transpose(1, 2) @ Q
        G.diagonal(dim1=1, dim2=2).add_(1e-12 * G.diagonal(dim1=1, dim2=2).amax(1, keepdim=True) + 1e-300)
        R, bad = torch.linalg.cholesky_ex(G, upper=True)
        if bool((bad != 0).any()) or not bool(torch.isfinite(R).all()):
            return torch.linalg.qr(Y)[0]
        Q = torch.linalg.solve_triangular(R, Q, upper=True, left=False)
    return Q


def _lr_solve(Z: _Standardized, y: Int[Tensor, " n"], row_sq: Float[Tensor, "layer n"], *, l2: float,
              max_iter: int, tol: float, m: int, rank: int, seed: int
              ) -> tuple[Float[Tensor, "layer d1"], Int[Tensor, " layer"], Float[Tensor, " layer"]]:
    """Batched L-BFGS on ``θ = [w, b]`` (``[L, d+1]``, float64) with a two-level preconditioner.

    On CPU the cost is *passes over the data* (``[L, n, d]`` float32 is far larger than the caches, so every
    pass is memory-bound), and plain L-BFGS needs 50-150 iterations on residual-stream features, whose Gram
    spectrum spans 4-5 decades. Hence:

    * **Preconditioner.** A randomized range finder (``k`` sampled rows, one power iteration: three
      ``k``-column passes, float32) gives an orthonormal ``Q: [L, d, k]`` spanning roughly each layer's
      top-``k`` principal subspace, and ``P = Z·Q``. The two-loop recursion's initial inverse Hessian is
      ``M⁻¹`` with ``M = Q̂·B·Q̂ᵀ + c·(I − Q̂Q̂ᵀ)``. On ``span(Q) ⊕ bias``, ``B`` is the exact current Hessian
      block ``P̂ᵀ·diag(σ'(z))·P̂/n + l2`` (``P̂ = [P, 1]``; a ``(k+1)²`` Cholesky per layer, renewed every
      third iteration). On the complement, ``c`` is L-BFGS's usual scale ``yᵀy/sᵀy`` computed on the newest
      curvature pair's off-``span(Q)`` parts (first iteration: the larger of the mean remaining Hessian
      eigenvalue ``Σ σ'(z_i)(‖z_i‖² − ‖P_i‖²)/(n(d−k))`` and the smallest Ritz value of ``B``). That takes
      the ill-conditioned top of the spectrum out, the curvature pairs handle the rest, and unit steps are
      almost always accepted. On SmolLM2-135M residuals (30 layers, d=576, cities) the slowest layer needs
      33 iterations instead of 172 (mean 21 instead of 75).
    * **Two data passes per iteration.** The line search computes ``Ẑ·p`` once and evaluates trial points
      as ``z + t·Ẑp``; the gradient is the other pass. Converged layers are skipped by the passes.

    Alternatives measured on the lab's CPU at one thread for that shape: a batched Newton/IRLS solve needs
    ~10 iterations (no fewer than this with ``Q = I``), but each forms ``[L, d+1, d+1]`` Hessians and
    factors them, 30-100x the cost of a data pass; the n×n dual form needs the ``[L, n, n]`` kernel (as
    costly as a Hessian) and an ``n³`` factorisation per iteration. Both lose to sklearn's own loop there.
    ``d <= 4·rank`` selects that Newton variant (``Q = I``): the right choice when ``d`` is small.

    Small vectors (``θ``, gradients, curvature pairs, logits) are float64; the data stay float32.
    Returns ``(θ, iterations per layer (-1 = not converged), max |gradient| per layer)``.
    """
    L, n, d = Z.L, Z.n, Z.d
    dev = Z.X.device
    f64 = torch.float64
    yf = y.to(f64)[None, :]
    # small d: the whole Hessian (forming it costs ~d data passes, cheap next to the iterations it saves)
    k = 0 if rank <= 0 else (d if d <= 4 * rank else min(int(rank), max(n - 1, 1)))
    if k > 0:
        if k == d:  # the whole space: B is the exact Hessian (Newton with L-BFGS corrections)
            Q = torch.eye(d, dtype=Z.X.dtype, device=dev).expand(L, d, d).contiguous()
        else:
            gen = torch.Generator().manual_seed(seed)
            idx = torch.stack([torch.randperm(n, generator=gen)[:k] for _ in range(L)]).to(dev)
            Q = _orthonormalize(Z.rows(idx).transpose(1, 2))  # k sampled rows: a piece of the row space
            Q = _orthonormalize(Z.block_bwd(Z.block_fwd(Q)))  # one power iteration towards the top of ZᵀZ
        P = Z.block_fwd(Q)  # [L, n, k] float32
        QT = Q.transpose(1, 2).contiguous()  # [L, k, d] float32
        PT = torch.cat([P.transpose(1, 2), torch.ones(L, 1, n, dtype=P.dtype, device=dev)], 1).contiguous()
        PTw = torch.empty_like(PT)
        resid_sq = (row_sq - (P.double() ** 2).sum(2)).clamp_min(0)  # ‖z_i‖² − ‖P_i‖²: energy off span(Q)
        ridge = torch.zeros(k + 1, dtype=f64, device=dev)
        ridge[:k] = l2
        ridge[k] = 1e-12  # keeps B positive definite even if every σ'(z_i) underflows
        refresh = 3

    def grad(th: Tensor, z: Tensor, active: list[int]) -> Tensor:
        r = (torch.sigmoid(z) - yf) / n
        return torch.cat([Z.bwd(r, active) + l2 * th[:, :-1], r.sum(1, keepdim=True)], 1)

    def loss(z: Tensor, th: Tensor) -> Tensor:
        return (F.softplus(z) - yf * z).mean(1) + 0.5 * l2 * (th[:, :-1] ** 2).sum(1)

    th = torch.zeros(L, d + 1, dtype=f64, device=dev)
    z = torch.zeros(L, n, dtype=f64, device=dev)
    iters = torch.full((L,), -1, dtype=torch.long)
    active = list(range(L))
    f = loss(z, th)
    g = grad(th, z, active)
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
            q.sub_(v * a[:, None])
        if k > 0:
            if it % refresh == 0:  # B and c follow σ'(z) (every 3rd iteration: as few iterations, less work)
                pz = torch.sigmoid(z)
                wgt = pz * (1 - pz)
                torch.mul(PT, wgt[:, None, :].to(PT.dtype), out=PTw)
                B = torch.bmm(PTw, PT.transpose(1, 2)).double() / n
                B.diagonal(dim1=1, dim2=2).add_(ridge)
                chol = torch.linalg.cholesky(B)
                if it == 0:  # between the mean remaining eigenvalue and the smallest Ritz value on span(Q)
                    c = torch.maximum(l2 + (wgt * resid_sq).sum(1) / (n * max(d - k, 1)),
                                      torch.linalg.eigvalsh(B[:, :k, :k])[:, 0])
                elif k < d:  # L-BFGS's own scale yᵀy/sᵀy, measured off span(Q) on the newest pair
                    sv = torch.stack([S[-1][:, :-1], Yp[-1][:, :-1]], 1).to(Q.dtype)  # [L, 2, d]
                    off = (sv - torch.bmm(torch.bmm(sv, Q), QT)).double()
                    s_off, y_off = off[:, 0], off[:, 1]
                    sy_off = torch.linalg.vecdot(s_off, y_off)
                    c_new = torch.linalg.vecdot(y_off, y_off) / sy_off.clamp_min(1e-300)
                    c = torch.where(sy_off > 0, c_new.clamp_min(l2), c)
            a = torch.cat([torch.bmm(q[:, None, :-1].to(Q.dtype), Q)[:, 0].double(), q[:, -1:]], 1)  # Q̂ᵀq
            sol = torch.cholesky_solve(a[:, :, None], chol)[:, :, 0]
            corr = torch.bmm((sol[:, :k] - a[:, :k] / c[:, None]).to(QT.dtype)[:, None, :], QT)[:, 0]
            q = torch.cat([q[:, :-1] / c[:, None] + corr.double(), sol[:, k:]], 1)
        elif S:
            gamma = torch.linalg.vecdot(S[-1], Yp[-1]) / torch.linalg.vecdot(Yp[-1], Yp[-1]).clamp_min(1e-300)
            q = q * gamma[:, None]
        else:
            q = q / g.abs().sum(1, keepdim=True).clamp_min(1.0)
        for s, v, rho, a in zip(S, Yp, Rho, reversed(alphas)):
            q.add_(s * (a - rho * torch.linalg.vecdot(v, q))[:, None])
        p = -q
        gp = torch.linalg.vecdot(g, p)
        uphill = live & (gp >= 0)  # impossible in exact arithmetic (M and the pairs are SPD); be safe
        if bool(uphill.any()):
            p = torch.where(uphill[:, None], -g, p)
            gp = torch.where(uphill, -torch.linalg.vecdot(g, g), gp)
        p[done] = 0.0
        zp = Z.fwd(p, active)
        # Armijo backtracking per layer along z + t·zp: trial points cost no data pass
        t = torch.ones(L, dtype=f64, device=dev)
        f_new = loss(z + zp, th + p)
        for _ in range(50):
            fail = live & (f_new > f + 1e-4 * t * gp)
            if not bool(fail.any()):
                break
            t = torch.where(fail, 0.5 * t, t)
            f_new = torch.where(fail, loss(z + t[:, None] * zp, th + t[:, None] * p), f_new)
        s = t[:, None] * p
        th_new = th + s
        z_new = z + t[:, None] * zp
        g_new = grad(th_new, z_new, active)
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
