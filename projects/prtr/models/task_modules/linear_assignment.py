# Copyright (c) prtr authors. All rights reserved.
"""Exact linear assignment of a batch of small K x N problems.

PRTR matches K joints to N >= K queries for every image and decoder layer:
a training step solves ``L * B`` problems (6 x 32 = 192 of 17 x 100 for the
R-50 config). scipy's ``linear_sum_assignment`` solves each one fast, but a
Python loop over 192 calls costs more than the solves. ``lapx``'s
``lapjvr_batch`` (Jonker-Volgenant with a native rectangular path, no
padding to N x N) solves the whole batch in one native call and returns the
same optimum. scipy stays the reference (and the fallback solver).
"""
import numpy as np
from scipy.optimize import linear_sum_assignment

try:
    from lap import lapjvr_batch
except ImportError:  # pragma: no cover  (lapx is a runtime requirement)
    lapjvr_batch = None


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
    if num_rows > num_cols:
        raise ValueError(f'cannot assign {num_rows} rows to {num_cols} '
                         'columns one-to-one')
    if not np.isfinite(cost).all():
        # lapx returns an arbitrary assignment on NaN, scipy a bare
        # "cost matrix is infeasible": name the cause instead
        bad = np.argwhere(~np.isfinite(cost))[0]
        raise ValueError(
            f'non-finite matching cost ({cost[tuple(bad)]} in problem '
            f'{bad[0]}, row {bad[1]}, column {bad[2]}): the network output '
            'holds NaN/inf, from non-finite inputs or diverged weights')
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
