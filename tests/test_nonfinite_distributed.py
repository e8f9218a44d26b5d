"""NonFiniteCheckHook across processes: a NaN batch or loss on one rank
stops every rank, each with one line, instead of leaving the other ranks
waiting in the next collective (DDP's gradient all-reduce)."""
import datetime
import json
import os.path as osp
from types import SimpleNamespace

import torch
import torch.distributed as dist
import torch.multiprocessing as mp
from _cli import free_port

BAD_RANK = 1


def _worker(rank: int, port: int, out_dir: str) -> None:
    from prtr.engine.hooks import NonFiniteCheckHook, NonFiniteError
    torch.set_num_threads(1)
    dist.init_process_group(
        'gloo',
        init_method=f'tcp://127.0.0.1:{port}',
        rank=rank,
        world_size=2,
        timeout=datetime.timedelta(seconds=60))
    model = torch.nn.BatchNorm1d(3)
    runner = SimpleNamespace(model=model, epoch=0, iter=0)
    hook = NonFiniteCheckHook()
    value = float('nan') if rank == BAD_RANK else 1.
    messages = {}
    for stage in ('batch', 'loss', 'finite'):
        try:
            if stage == 'batch':
                hook.before_train_iter(runner, 0,
                                       dict(inputs=[torch.full((3, ), value)]))
            else:
                hook.before_train_iter(runner, 0, dict(inputs=[torch.ones(3)]))
                loss = torch.tensor(value if stage == 'loss' else 1.)
                hook.check_losses(dict(loss_kpt=loss), model)
            messages[stage] = None
        except NonFiniteError as e:
            messages[stage] = str(e)
    with open(osp.join(out_dir, f'{rank}.json'), 'w') as f:
        json.dump(messages, f)
    dist.destroy_process_group()


def test_nan_on_one_rank_stops_every_rank(tmp_path):
    context = mp.spawn(
        _worker, args=(free_port(), str(tmp_path)), nprocs=2, join=False)
    for _ in range(120):  # a rank left waiting would hit gloo's timeout
        if context.join(timeout=1):
            break
    else:
        raise AssertionError('the ranks did not finish')
    msgs = [
        json.loads((tmp_path / f'{rank}.json').read_text()) for rank in (0, 1)
    ]
    bad, other = msgs[BAD_RANK], msgs[1 - BAD_RANK]
    assert 'input image #0' in bad['batch']
    assert 'non-finite loss loss_kpt (nan)' in bad['loss']
    assert other['batch'] == ('non-finite batch (training, at epoch 1 '
                              'iteration 1) on rank 1 (its log names it); '
                              'rank 0 stopped with it')
    assert other['loss'].startswith('non-finite loss at epoch 1 iteration 1'
                                    ' on rank 1')
    # finite everywhere: no rank stops
    assert bad['finite'] is None and other['finite'] is None
