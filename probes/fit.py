"""Linear truth probes fitted for every layer at once: logistic regression, mass-mean (plain / LDA), random.

All methods take activations ``X: [layer, n, d]`` and labels ``y: [n]`` (1 = true) and return one affine readout
per layer in *raw activation space*, ``logit = X·w + b`` with ``w: [layer, k, d]``, ``b: [layer, k]`` (``k`` = 1
except for the random baseline, which keeps ``k`` directions). Nothing loops over layers in Python: each method is
a handful of batched tensor operations over the layer axis.

``lr``      L2-regularised logistic regression on per-layer standardized features,
            ``mean_i BCE(z_i·w + b, y_i) + (l2/2)·‖w‖²`` (sklearn's ``C`` = ``1/(l2·n)``), solved for all layers
            together by a batched L-BFGS (per-layer step sizes and curvature pairs, vectorised two-loop
            recursion, converged layers dropped from the active set). The weights are mapped back through the
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


def _standardize(X: Acts) -> tuple[Tensor, Tensor]:
    mu = X.mean(dim=1, keepdim=True)
    sd = X.std(dim=1, keepdim=True).clamp_min(1e-6)
    return mu, sd


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
           history: int = 10, threads: int | None = 1) -> tuple[Weight, Bias]:
    """Logistic regression for every layer at once: a batched L-BFGS with a per-layer line search.

    Each layer solves ``min mean_i BCE(z_i·w + b, y_i) + (l2/2)‖w‖²`` on its standardized features ``z``
    (sklearn's objective with ``C = 1/(l2·n)``, and its stopping rule: max |gradient| < ``tol``). Layers are
    independent problems sharing tensor operations: the two-loop recursion, the Armijo backtracking step and the
    convergence test are vectorised over layers, each layer keeps its own step size and curvature history, and
    layers that have converged leave the active set (their data is no longer touched). A pass over the data is
    one ``bmm`` of row vectors against ``[layer, n, d]`` (and one against its transpose), the fast layout for
    CPU batched matrix-vector products.

    ``threads``: intra-op CPU threads while solving (default 1: the solver is memory-bound and extra threads
    only add contention on shared CPUs; ``None`` keeps the process setting).
    """
    X = X.float()
    mu, sd = _standardize(X)
    with cpu_threads(threads, X.device):
        Z = (X - mu) / sd  # [L, n, d]
        Zt = Z.transpose(1, 2).contiguous()  # [L, d, n]
        w_all, b_all = _batched_lbfgs(Z, Zt, y.to(X.device), l2=l2, max_iter=max_iter, tol=tol, m=history)
    w_raw = w_all / sd[:, 0, :]
    b_raw = b_all - (w_raw * mu[:, 0, :]).sum(-1)
    return w_raw[:, None, :], b_raw[:, None]


def _batched_lbfgs(Z: Float[Tensor, "layer n d"], Zt: Float[Tensor, "layer d n"], y: Int[Tensor, " n"], *,
                   l2: float, max_iter: int, tol: float, m: int) -> tuple[Tensor, Tensor]:
    L, n, d = Z.shape
    yf = y.to(Z.dtype)[None, :]

    def loss_and_logits(th: Tensor, Zt_: Tensor) -> tuple[Tensor, Tensor]:
        z = torch.bmm(th[:, None, :-1], Zt_)[:, 0] + th[:, -1:]
        loss = (F.softplus(z) - yf * z).double().mean(1) + 0.5 * l2 * (th[:, :-1].double() ** 2).sum(1)
        return loss, z

    def gradient(th: Tensor, z: Tensor, Z_: Tensor) -> Tensor:
        r = (torch.sigmoid(z) - yf) / n
        gw = torch.bmm(r[:, None, :], Z_)[:, 0] + l2 * th[:, :-1]
        return torch.cat([gw, r.sum(1, keepdim=True)], 1)

    theta = torch.zeros(L, d + 1, dtype=Z.dtype, device=Z.device)
    rows = torch.arange(L, device=Z.device)  # layers held by Z_/Zt_; compacted lazily (a copy costs a data pass)
    Z_, Zt_ = Z, Zt
    th = theta.clone()
    f, z = loss_and_logits(th, Zt_)
    g = gradient(th, z, Z_)
    live = torch.ones(L, dtype=torch.bool, device=Z.device)
    S: list[Tensor] = []
    Y: list[Tensor] = []
    R: list[Tensor] = []
    for _ in range(max_iter):
        live &= g.abs().amax(1) >= tol
        n_live = int(live.sum())
        if n_live == 0:
            break
        if n_live <= 0.75 * len(rows):  # enough layers converged: drop them from the data (one copy)
            theta[rows] = th
            keep = live
            rows, Z_, Zt_, th, f, g = rows[keep], Z_[keep], Zt_[keep], th[keep], f[keep], g[keep]
            S, Y, R = [s[keep] for s in S], [v[keep] for v in Y], [r[keep] for r in R]
            live = live[keep]
        # two-loop recursion, vectorised over layers
        q = g.clone()
        alphas = []
        for s, v, r in zip(reversed(S), reversed(Y), reversed(R)):
            a = r * (s * q).sum(1)
            alphas.append(a)
            q -= a[:, None] * v
        if S:
            gamma = (S[-1] * Y[-1]).sum(1) / (Y[-1] * Y[-1]).sum(1).clamp_min(1e-20)
            q = q * torch.where(R[-1] > 0, gamma, torch.ones_like(gamma))[:, None]
        else:
            q = q / g.abs().sum(1, keepdim=True).clamp_min(1.0)
        for (s, v, r), a in zip(zip(S, Y, R), reversed(alphas)):
            q += s * (a - r * (v * q).sum(1))[:, None]
        p = -q
        gp = (g * p).sum(1)
        uphill = gp >= 0
        if bool(uphill.any()):
            p[uphill] = -g[uphill]
            gp = torch.where(uphill, -(g * g).sum(1), gp)
        p[~live] = 0.0  # converged layers stay put (their rows are still computed until the next compaction)
        # Armijo backtracking per layer; only the failing layers are re-evaluated
        t = torch.ones(len(rows), dtype=Z.dtype, device=Z.device)
        f_new, z_new = loss_and_logits(th + p, Zt_)
        for _ in range(30):
            fail = live & (f_new > f + 1e-4 * t.double() * gp.double())
            if not bool(fail.any()):
                break
            idx = fail.nonzero()[:, 0]
            t[idx] *= 0.5
            f2, z2 = loss_and_logits(th[idx] + t[idx, None] * p[idx], Zt_[idx])
            f_new[idx], z_new[idx] = f2, z2
        th_new = th + t[:, None] * p
        g_new = gradient(th_new, z_new, Z_)
        s, v = th_new - th, g_new - g
        sy = (s * v).sum(1)
        ok = live & (sy > 1e-12)
        S.append(s * ok[:, None])
        Y.append(v * ok[:, None])
        R.append(torch.where(ok, 1.0 / sy.clamp_min(1e-12), torch.zeros_like(sy)))
        if len(S) > m:
            S.pop(0), Y.pop(0), R.pop(0)
        th, f, g = th_new, f_new, g_new
    theta[rows] = th
    return theta[:, :-1], theta[:, -1]


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
