"""The scalable reallocation: each word keeps a short list of candidate cells, solved by auction.

Candidates (why these): a word's cost of cell (i, j) is l_r[w, i] + l_c[w, j], so its cheapest
cells all lie in its cheapest rows x cheapest columns. We take the `candidate_rows` best rows and
columns, keep the `candidates` cheapest cells of that product, and add the word's current cell, so
the current table is always a feasible answer. Cells that stay empty need no modelling: the
problem is rectangular (V words, R * C >= V cells).

Solver: Bertsekas' forward auction (Gauss-Seidel, epsilon scaling), compiled with numba. The R*C - V
empty cells are taken by implicit "dummy" bidders of cost 0 that may hold any cell: a dummy bids
for the cheapest-priced cell, found in O(log N) with a min-tree over the prices. So the empty cells
end wherever no word wants to be, with no dummy edges at all. The result is within
(V + D) * eps_final of the optimum over the candidates, exactly optimal when the costs are
integers. Without numba we fall back to `lap.lapmod` on a square problem (slow past ~100k words,
see bench/reallocate.py), whose dummy rows may take the currently empty cells plus the least
demanded ones.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

try:  # numba is what makes the auction fast; without it we fall back to lapmod
    from numba import njit

    HAVE_NUMBA = True
except ImportError:  # pragma: no cover - exercised only where numba is absent
    HAVE_NUMBA = False

    def njit(*args, **kwargs):  # type: ignore[no-redef]
        def wrap(fn):
            return fn

        return wrap


@dataclass(frozen=True, eq=False)
class Candidates:
    """Each word's candidate cells (its current one included), cheapest first, fixed width."""

    cells: np.ndarray  # [V, K] int32 flat cell ids (row * C + col)
    cost: np.ndarray  # [V, K] float64 ascending, cost minus `shift`; +inf: an unused slot
    shift: np.ndarray  # [V] float64, the word's cheapest cost over all cells (subtracted)
    outside: np.ndarray  # [V] float64, lower bound (minus shift) on any cell not in the list
    current: np.ndarray  # [V] float64, cost (minus shift) of the word's current cell
    current_cells: np.ndarray  # [V] int64, the word's current cell


def build_candidates(
    l_r: np.ndarray,
    l_c: np.ndarray,
    current_cells: np.ndarray,
    rows: int,
    cells: int,
    chunk: int = 8192,
) -> Candidates:
    """Top `rows` rows x top `rows` columns per word, its `cells` cheapest cells, plus its
    current cell. Chunked over words: temporaries are O(chunk * (R + rows**2)) float64."""
    vocab_size, n_rows = l_r.shape
    n_cols = l_c.shape[1]
    kr, kc = min(rows, n_rows), min(rows, n_cols)
    m = min(cells, kr * kc)
    width = m + 1
    out_cells = np.empty((vocab_size, width), dtype=np.int32)
    out_cost = np.empty((vocab_size, width), dtype=np.float64)
    shift = np.empty(vocab_size, dtype=np.float64)
    outside = np.empty(vocab_size, dtype=np.float64)
    current = np.empty(vocab_size, dtype=np.float64)
    for start in range(0, vocab_size, chunk):
        stop = min(start + chunk, vocab_size)
        b = stop - start
        top_r, val_r, next_r = _best(l_r[start:stop], kr)  # [b, kr] sorted, [b] (k+1)-th
        top_c, val_c, next_c = _best(l_c[start:stop], kc)
        prod = (val_r[:, :, None] + val_c[:, None, :]).reshape(b, kr * kc)
        prod_cells = (top_r[:, :, None] * n_cols + top_c[:, None, :]).reshape(b, kr * kc)
        best = val_r[:, 0] + val_c[:, 0]
        # any cell outside the product costs at least this much
        beyond = np.minimum(next_r + val_c[:, 0], val_r[:, 0] + next_c)
        if m < kr * kc:
            sel = np.argpartition(prod, m, axis=1)
            beyond = np.minimum(beyond, np.take_along_axis(prod, sel[:, m : m + 1], 1)[:, 0])
            sel = sel[:, :m]
            prod = np.take_along_axis(prod, sel, 1)
            prod_cells = np.take_along_axis(prod_cells, sel, 1)
        cur = current_cells[start:stop]
        words = np.arange(start, stop)
        cur_cost = l_r[words, cur // n_cols].astype(np.float64) + l_c[words, cur % n_cols]
        dup = (prod_cells == cur[:, None]).any(axis=1)
        # cheapest first (the duplicate current cell, +inf, last): lets the auction stop
        # scanning a list as soon as no later cell can beat the two best so far
        both_cells = np.concatenate([prod_cells, cur[:, None]], axis=1)
        both_cost = np.concatenate([prod, np.where(dup, np.inf, cur_cost)[:, None]], axis=1)
        order = np.argsort(both_cost, axis=1, kind="stable")
        out_cells[start:stop] = np.take_along_axis(both_cells, order, 1)
        out_cost[start:stop] = np.take_along_axis(both_cost, order, 1) - best[:, None]
        shift[start:stop] = best
        outside[start:stop] = beyond - best
        current[start:stop] = cur_cost - best
    return Candidates(out_cells, out_cost, shift, outside, current, current_cells)


def _best(costs: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Indices [b, k] and float64 values [b, k] of the k smallest per row (ascending), and the
    (k+1)-th smallest value [b] (+inf when k is the whole row)."""
    b, width = costs.shape
    costs = costs.astype(np.float64)
    if k < width:
        part = np.argpartition(costs, k, axis=1)
        nxt = np.take_along_axis(costs, part[:, k : k + 1], 1)[:, 0]
        idx = part[:, :k]
    else:
        nxt = np.full(b, np.inf)
        idx = np.broadcast_to(np.arange(width), (b, width))
    val = np.take_along_axis(costs, idx, 1)
    order = np.argsort(val, axis=1, kind="stable")
    idx = np.take_along_axis(idx, order, 1).astype(np.int64)
    return idx, np.take_along_axis(val, order, 1), nxt


def auction_eps(cand: Candidates, n_cells: int, tol: float) -> tuple[float, float]:
    """(eps0, eps_final) for the auction: exact for integer costs, else the total error bound
    (V + D) * eps_final is `tol` times what the current table could gain at most; never below
    1e-12 of the largest cost, where float64 prices would stop moving."""
    top, integral = 0.0, True
    for start in range(0, cand.cost.shape[0], 8192):  # chunked: no [V, K] temporaries
        block = cand.cost[start : start + 8192]
        block = block[np.isfinite(block)]
        top = max(top, float(block.max(initial=0.0)))
        integral = integral and bool(np.array_equal(block, np.round(block)))
    gain = float(cand.current.sum())  # the most any table can gain over the current one
    eps_final = 1.0 / (n_cells + 1) if integral else tol * gain / n_cells
    eps_final = max(eps_final, 1e-12 * top, 1e-300)
    return max(top / 5.0, eps_final), eps_final


def solve_auction(cand: Candidates, n_cells: int, tol: float) -> tuple[np.ndarray, dict]:
    """Cells [V] int64 of an eps-optimal assignment over the candidates, and solver facts."""
    start = time.perf_counter()
    eps0, eps_final = auction_eps(cand, n_cells, tol)
    cells, prices, bids, phases = _auction(cand.cells, cand.cost, n_cells, eps0, eps_final, 5.0)
    solved = time.perf_counter()
    bound = price_lower_bound(cand, prices)
    info = {
        "solver": "auction",
        "bids": int(bids),
        "phases": int(phases),
        "eps_final": eps_final,
        "sparse_gap_bound": n_cells * eps_final,
        "lower_bound": bound,
        "solve_seconds": solved - start,  # numba's cache load or first compile included
        "bound_seconds": time.perf_counter() - solved,
    }
    return cells, info


def price_lower_bound(cand: Candidates, prices: np.ndarray) -> float:
    """A proven lower bound on the full (every cell) optimum from the auction's cell prices.

    Lagrangian relaxation of "one word per cell" with multipliers lam >= 0: for any lam,
    sum_w min_cell (cost + lam) - sum lam <= optimum. Cells outside a word's list cost at least
    `outside`, so min(min over the list, outside) is a safe per-word minimum. We try a few
    offsets lam = max(0, price - tau) and keep the best. Exact when every cell is listed; with
    short lists it is loose (the prices of unlisted cells are unknown), so read it as a bound."""
    taus = np.quantile(prices, [0.0, 0.02, 0.05, 0.1, 0.2, 0.35, 0.5])
    lam_sums = np.array([np.maximum(prices - t, 0.0).sum() for t in taus])
    sums = _listed_min_sums(cand.cells, cand.cost, cand.outside, prices, taus)
    return float((sums - lam_sums).max() + cand.shift.sum())


@njit(cache=True)
def _listed_min_sums(cells, cost, outside, prices, taus):  # pragma: no cover - compiled
    """For each tau: sum over words of min(outside, min over the list of cost + lam)."""
    n_words, width = cells.shape
    out = np.zeros(taus.size)
    for t in range(taus.size):
        tau = taus[t]
        total = 0.0
        for i in range(n_words):
            best = outside[i]
            for k in range(width):
                if cost[i, k] >= best:  # costs ascend and lam >= 0
                    break
                lam = prices[cells[i, k]] - tau
                h = cost[i, k] + (lam if lam > 0.0 else 0.0)
                if h < best:
                    best = h
            total += best
        out[t] = total
    return out


@njit(cache=True)
def _tree_set(tree, size, j, val):  # pragma: no cover - compiled
    i = size + j
    tree[i] = val
    i >>= 1
    while i >= 1:
        a = tree[2 * i]
        b = tree[2 * i + 1]
        tree[i] = a if a < b else b
        i >>= 1


@njit(cache=True)
def _tree_min2(tree, size):  # pragma: no cover - compiled
    """The cheapest cell, its price, and the cheapest price among all other cells."""
    i = 1
    while i < size:
        i = 2 * i if tree[2 * i] <= tree[2 * i + 1] else 2 * i + 1
    j = i - size
    v1 = tree[i]
    v2 = np.inf
    while i > 1:
        s = tree[i ^ 1]
        if s < v2:
            v2 = s
        i >>= 1
    return j, v1, v2


@njit(cache=True)
def _auction(cells, cost, n_cells, eps0, eps_final, theta):  # pragma: no cover - compiled
    """Forward auction, min-cost, persons = V words + (n_cells - V) dummies of cost 0 anywhere.

    Returns (cell of each word [V], prices [n_cells], bids, phases)."""
    n_words, width = cells.shape
    n = n_cells  # persons: words 0..V-1, dummies V..n-1
    inf = np.inf
    price = np.zeros(n_cells)
    size = 1
    while size < n_cells:
        size *= 2
    tree = np.full(2 * size, inf)
    tree[size : size + n_cells] = 0.0
    for i in range(size - 1, 0, -1):
        a = tree[2 * i]
        b = tree[2 * i + 1]
        tree[i] = a if a < b else b
    owner = np.full(n_cells, -1, np.int64)
    x = np.full(n, -1, np.int64)
    queue = np.empty(n, np.int64)
    eps = eps0
    bids = 0
    phases = 0
    while True:
        phases += 1
        # keep the persons that still satisfy eps-complementary slackness, requeue the rest
        nq = 0
        for i in range(n):
            j = x[i]
            keep = False
            if j >= 0:
                if i < n_words:
                    best = inf
                    mine = inf
                    for k in range(width):
                        c = cost[i, k]
                        if c == inf:
                            continue
                        h = c + price[cells[i, k]]
                        if h < best:
                            best = h
                        if cells[i, k] == j:
                            mine = h
                    keep = mine <= best + eps
                else:
                    keep = price[j] <= tree[1] + eps
            if not keep:
                if j >= 0:
                    owner[j] = -1
                    x[i] = -1
                queue[nq] = i
                nq += 1
        head = 0
        while nq > 0:  # circular queue of unassigned persons
            i = queue[head]
            head = head + 1 if head + 1 < n else 0
            nq -= 1
            bids += 1
            if i < n_words:
                v1 = inf
                v2 = inf
                k1 = -1
                floor = tree[1]  # the lowest price of any cell
                for k in range(width):
                    c = cost[i, k]
                    if c + floor >= v2:  # costs ascend: no later cell beats the best two
                        break
                    h = c + price[cells[i, k]]
                    if h < v2:
                        if h < v1:
                            v2 = v1
                            v1 = h
                            k1 = k
                        else:
                            v2 = h
                j = cells[i, k1]
                if v2 == inf:  # a single usable cell: outbid everyone for good
                    v2 = v1 + 1e12 * (1.0 + abs(v1))
                new_price = price[j] + (v2 - v1) + eps
            else:
                j, v1, v2 = _tree_min2(tree, size)
                new_price = v2 + eps
            price[j] = new_price
            _tree_set(tree, size, j, new_price)
            prev = owner[j]
            owner[j] = i
            x[i] = j
            if prev >= 0:
                x[prev] = -1
                t = head + nq
                if t >= n:
                    t -= n
                queue[t] = prev
                nq += 1
        if eps <= eps_final:
            break
        eps = max(eps / theta, eps_final)
    return x[:n_words].copy(), price, bids, phases


def solve_lapmod(cand: Candidates, n_cells: int, dummy_edges: int) -> tuple[np.ndarray, dict]:
    """Fallback without numba: `lap.lapmod` on the square problem (words + dummy rows).

    Dummy rows (one per empty cell, cost 0) may take the currently empty cells, which keeps the
    current table feasible, plus the least demanded cells (fewest words list them), so words can
    still move into empty cells; all cells when D * N <= `dummy_edges`."""
    import lap

    vocab_size = cand.cells.shape[0]
    n_dummy = n_cells - vocab_size
    finite = np.isfinite(cand.cost)
    # lapmod wants strictly increasing columns per row: sort each word's slots, drop unused ones
    order = np.argsort(np.where(finite, cand.cells, np.iinfo(np.int32).max), axis=1)
    kk = np.take_along_axis(cand.cells, order, 1)
    cc = np.take_along_axis(cand.cost, order, 1)
    keep = np.take_along_axis(finite, order, 1)
    lens = keep.sum(axis=1)
    kk, cc = kk[keep].astype(np.uint32), cc[keep]
    if n_dummy:
        if n_dummy * n_cells <= dummy_edges:
            dummy_cells = np.arange(n_cells)
        else:
            demand = np.bincount(kk, minlength=n_cells).astype(np.int64)
            demand[np.setdiff1d(np.arange(n_cells), cand.current_cells)] = -1  # empty now: first
            width = min(n_cells, max(n_dummy, dummy_edges // n_dummy))
            dummy_cells = np.sort(np.argpartition(demand, width - 1)[:width])
        kk = np.concatenate([kk, np.tile(dummy_cells.astype(np.uint32), n_dummy)])
        cc = np.concatenate([cc, np.zeros(n_dummy * dummy_cells.size)])
        lens = np.concatenate([lens, np.full(n_dummy, dummy_cells.size)])
    ii = np.zeros(n_cells + 1, dtype=np.uint32)
    np.cumsum(lens, out=ii[1:])
    top = float(cc.max(initial=0.0))
    if top > 0:  # lapmod needs costs below lap.LARGE (1e6); float64 keeps the precision
        cc *= 1e4 / top
    x, _ = lap.lapmod(n_cells, cc, ii, kk, return_cost=False)
    return np.asarray(x[:vocab_size], dtype=np.int64), {"solver": "lapmod"}
