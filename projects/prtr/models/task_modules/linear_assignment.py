# Copyright (c) prtr authors. All rights reserved.
"""Exact linear assignment of a batch of small K x N problems.

PRTR matches K joints to N >= K queries for every image and decoder layer:
a training step solves ``L * B`` problems (6 x 32 = 192 of 17 x 100 for the
R-50 config). scipy's ``linear_sum_assignment`` solves each one fast, but a
Python loop over 192 calls costs more than the solves. ``lapx``'s
``lapjvr_batch`` (Jonker-Volgenant with a native rectangular path, no
padding to N x N) solves the whole batch in one native call and returns the
same optimum. scipy stays the reference (and the fallback solver).

:func:`device_linear_assignment` solves the batch where its tensor lives
(a GPU) with no host round trip, at the price of ~K^2 small batched tensor
operations; :func:`linear_assignment` is the entry point for tensors.
"""
import numpy as np
import torch
from scipy.optimize import linear_sum_assignment
from torch import Tensor

try:
    from lap import lapjvr_batch
except ImportError:  # pragma: no cover  (lapx is a runtime requirement)
    lapjvr_batch = None


def _check_problems(shape) -> None:
    num_rows, num_cols = shape[-2:]
    if num_rows > num_cols:
        raise ValueError(f'cannot assign {num_rows} rows to {num_cols} '
                         'columns one-to-one')


def _raise_non_finite(cost, bad) -> None:
    bad = tuple(int(i) for i in bad)
    raise ValueError(
        f'non-finite matching cost ({float(cost[bad])} in problem '
        f'{bad[0]}, row {bad[1]}, column {bad[2]}): the network output '
        'holds NaN/inf, from non-finite inputs or diverged weights')


def batched_linear_assignment(cost: np.ndarray,
                              solver: str = 'auto') -> np.ndarray:
    """Column assigned to each row of every problem, at minimal total cost.

    Args:
        cost (np.ndarray): ``[P, K, N]`` costs, ``K <= N``, finite.
        solver (str): ``'lapx'`` (one native call for the batch),
            ``'scipy'`` (a loop of ``linear_sum_assignment``) or ``'auto'``
            (lapx when installed).

    Returns:
        np.ndarray: ``[P, K]`` int64, the column of each row.
    """
    num_problems, num_rows, num_cols = cost.shape
    _check_problems(cost.shape)
    if not np.isfinite(cost).all():
        # lapx returns an arbitrary assignment on NaN, scipy a bare
        # "cost matrix is infeasible": name the cause instead
        _raise_non_finite(cost, np.argwhere(~np.isfinite(cost))[0])
    if solver == 'auto':
        solver = 'scipy' if lapjvr_batch is None else 'lapx'
    cols = np.empty((num_problems, num_rows), dtype=np.int64)
    if num_problems == 0 or num_rows == 0:
        return cols
    if solver == 'lapx':
        # n_threads=1: thread hand-off costs more than 17 x 100 solves
        rows_list, cols_list = lapjvr_batch(
            np.ascontiguousarray(cost),
            extend_cost=True,
            return_cost=False,
            n_threads=1)
        for i, (rows, c) in enumerate(zip(rows_list, cols_list)):
            cols[i, rows] = c
    elif solver == 'scipy':
        for i, c in enumerate(cost):
            rows, c = linear_sum_assignment(c)
            cols[i, rows] = c
    else:
        raise ValueError(f"solver must be 'auto', 'lapx' or 'scipy', "
                         f'not {solver!r}')
    return cols


def linear_assignment(cost: Tensor,
                      solver: str = 'auto',
                      check_finite: bool = True) -> Tensor:
    """Column of each row of every problem of a tensor, at minimal cost.

    Args:
        cost (Tensor): ``[P, K, N]`` costs, ``K <= N``.
        solver (str): ``'device'`` (:func:`device_linear_assignment`, on
            the tensor's device) or a host solver of
            :func:`batched_linear_assignment` (one transfer for the batch).
        check_finite (bool): raise on a NaN/inf cost (with ``'device'`` a
            host synchronisation); pass False for costs known finite.

    Returns:
        Tensor: ``[P, K]`` long, on ``cost``'s device.
    """
    if solver != 'device':
        # float(): under AMP the costs may be half precision (no numpy type)
        # (the host solvers always check: the check is free there)
        cols = batched_linear_assignment(cost.detach().float().cpu().numpy(),
                                         solver)
        return torch.from_numpy(cols).to(cost.device)
    _check_problems(cost.shape)
    if check_finite and not torch.isfinite(cost).all():
        _raise_non_finite(cost, (~torch.isfinite(cost)).nonzero()[0])
    return device_linear_assignment(cost.detach())


def device_linear_assignment(cost: Tensor) -> Tensor:
    """Exact batched assignment with tensor operations only.

    The shortest augmenting path algorithm of scipy's
    ``linear_sum_assignment`` (Crouse, "On implementing 2D rectangular
    assignment algorithms", 2016): rows are added one at a time, each by a
    Dijkstra search over reduced costs that ends at a free column, then the
    duals are updated and the path is flipped. All problems advance in lock
    step with fixed trip counts (a search from row ``r`` meets at most
    ``r`` assigned columns before a free one), so nothing depends on the
    data on the host: no synchronisation and no transfer on a GPU.

    Args:
        cost (Tensor): ``[P, K, N]`` finite costs, ``K <= N``.

    Returns:
        Tensor: ``[P, K]`` long, the column of each row.
    """
    num_problems, num_rows, num_cols = cost.shape
    dev = cost.device
    # float64, as scipy: reduced costs are differences of sums of costs,
    # and ties must resolve to an optimum of the same total
    cost = cost.double()
    batch = torch.arange(num_problems, device=dev)
    u = cost.new_zeros(num_problems, num_rows)  # row duals
    v = cost.new_zeros(num_problems, num_cols)  # column duals
    col4row = torch.full((num_problems, num_rows), -1, device=dev)
    row4col = torch.full((num_problems, num_cols), -1, device=dev)
    for cur in range(num_rows):
        dist = cost.new_full((num_problems, num_cols), float('inf'))
        path = torch.full_like(row4col, -1)  # row reaching each column
        rows_seen = torch.zeros_like(u, dtype=torch.bool)
        cols_seen = torch.zeros_like(v, dtype=torch.bool)
        row = torch.full((num_problems, ), cur, device=dev)
        min_val = cost.new_zeros(num_problems)
        sink = torch.zeros_like(row)
        searching = torch.ones_like(row, dtype=torch.bool)
        for _ in range(cur + 1):
            # scatter_ of a Python value: an indexed assignment of True
            # would copy a host scalar to the GPU (a sync) on every step
            rows_seen.scatter_(1, row[:, None], True)
            # [P, N] reduced costs from the current row
            reduced = (
                min_val[:, None] + cost[batch, row] - u[batch, row][:, None] -
                v)
            closer = (reduced < dist) & ~cols_seen & searching[:, None]
            path = torch.where(closer, row[:, None], path)
            dist = torch.where(closer, reduced, dist)
            # a Python fill value: a GPU 0-dim one is read on the host
            left = dist.masked_fill(cols_seen, float('inf'))
            lowest = left.min(1).values
            nearest = left == lowest[:, None]
            # among the nearest columns a free one ends the search
            nearest_free = nearest & (row4col < 0)
            col = torch.where(
                nearest_free.any(1),
                nearest_free.byte().argmax(1),
                nearest.byte().argmax(1))
            min_val = torch.where(searching, lowest, min_val)
            cols_seen[batch, col] |= searching
            free = row4col[batch, col] < 0
            sink = torch.where(searching & free, col, sink)
            row = torch.where(searching & ~free, row4col[batch, col], row)
            searching = searching & ~free
        # duals of the rows and columns the search went through
        rows_seen.select(1, cur).fill_(False)  # a Python value, no copy
        row_dist = dist.gather(1, col4row.clamp(min=0))
        u = u + torch.where(rows_seen, min_val[:, None] - row_dist, 0.)
        u[:, cur] += min_val
        v = v - torch.where(cols_seen, min_val[:, None] - dist, 0.)
        # flip the path from the sink back to row `cur`
        col, flipping = sink, torch.ones_like(searching)
        for _ in range(cur + 1):
            row = path[batch, col]
            row4col[batch, col] = torch.where(flipping, row, row4col[batch,
                                                                     col])
            prev = col4row[batch, row]
            col4row[batch, row] = torch.where(flipping, col, prev)
            flipping = flipping & (row != cur)
            col = torch.where(flipping, prev, col)
    return col4row
