"""Slow real-data checks: small configs trained from scratch on images of
the bundled COCO sample and evaluated on those images lower their losses
and raise COCO AP (mmpose CocoMetric) above the value of their initial
weights: the two-stage config, the cascade and the deformable cascade on
the first 4 images; the trained models give the same COCO
metrics on onnxruntime. One thread each (the README's test command runs
one pytest worker per core), so the figures do not depend on the machine's
core count. The deformable cascade on all 55 images (1,100-1,130 s on the
2026-11-29 machines) is a benchmark, run by ``-m benchmark`` only.
Figures: docs/benchmarks.md."""
import json
import os
import os.path as osp

import pytest
import torch
from conftest import ROOT, TINY_CONFIG
from mmengine.config import Config
from mmengine.runner import Runner

# one thread: pytest-xdist runs another worker on the other core, and two
# threads per test would wait on each other; the learned figures depend on
# the thread count (the order of sums), so it is fixed
THREADS = int(os.environ.get('PRTR_TEST_THREADS', 1))


def glob_one(pattern):
    import glob
    found = sorted(glob.glob(pattern))
    assert found, pattern
    return found[-1]


def _epoch_means(work_dir, prefix=None):
    """First and last per-epoch mean of the logged ``loss`` (or of the
    summed ``prefix*loss*`` terms)."""
    scalars = glob_one(osp.join(work_dir, '*', 'vis_data', 'scalars.json'))
    per_epoch = {}
    with open(scalars) as f:
        for line in f:
            rec = json.loads(line)
            if 'loss' in rec and 'epoch' in rec:
                total = rec['loss'] if prefix is None else sum(
                    v for k, v in rec.items()
                    if k.startswith(prefix) and 'loss' in k)
                per_epoch.setdefault(rec['epoch'], []).append(total)
    means = [sum(v) / len(v) for _, v in sorted(per_epoch.items())]
    return means[0], means[-1]


DATA_ROOT = osp.join(ROOT, 'data', 'coco_persons_mini') + '/'


def _on_first_images(cfg, tmp_path, num_images):
    """Train and evaluate ``cfg`` on the sample's first ``num_images``
    images (and all their annotations), one process, seed 0."""
    with open(DATA_ROOT + 'annotations/person_keypoints_train2017.json') as f:
        coco = json.load(f)
    img_ids = sorted(im['id'] for im in coco['images'])[:num_images]
    coco['images'] = [im for im in coco['images'] if im['id'] in img_ids]
    coco['annotations'] = [
        a for a in coco['annotations'] if a['image_id'] in img_ids
    ]
    ann = str(tmp_path / 'subset.json')
    with open(ann, 'w') as f:
        json.dump(coco, f)
    cfg.work_dir = str(tmp_path / 'work')
    for split in ('train', 'val', 'test'):
        loader = cfg[f'{split}_dataloader']
        loader.dataset.data_root = DATA_ROOT
        loader.dataset.ann_file = ann
        loader.num_workers = 0
        loader.persistent_workers = False
    metrics = cfg.val_evaluator
    for metric in metrics if isinstance(metrics, list) else [metrics]:
        metric.ann_file = ann
    cfg.test_evaluator = cfg.val_evaluator
    cfg.train_cfg.val_interval = 10000  # evaluated below, before and after
    cfg.default_hooks.checkpoint.interval = 10000
    cfg.default_hooks.checkpoint.save_best = None
    cfg.randomness = dict(seed=0)
    cfg.default_hooks.logger.interval = 1
    # a visualizer of its own: mmengine returns an existing instance of the
    # same name (an inferencer in an earlier test), which logs elsewhere
    cfg.visualizer.name = f'visualizer_{tmp_path.name}'
    runner = Runner.from_cfg(cfg)
    # init once; Runner.train() then keeps these weights (mmengine inits a
    # module once), so this is the AP training starts from
    runner.model.init_weights()
    start = runner.val()
    runner.train()
    return start, runner.val(), runner


def _onnxruntime_gives_same_metrics(runner, metrics, shape, tmp_path):
    """The trained model exported to ONNX and evaluated again on
    onnxruntime (prtr.deployment): the same COCO metrics."""
    from prtr.deployment import attach_onnxruntime, export_onnx
    onnx_file = str(tmp_path / 'trained.onnx')
    export_onnx(runner.model, onnx_file, shape, dynamic_batch=True)
    attach_onnxruntime(runner.model, onnx_file)
    again = runner.val()
    print(f'onnxruntime: coco/AP {again["coco/AP"]:.4f}, AR '
          f'{again["coco/AR"]:.4f}')
    for key in ('coco/AP', 'coco/AP .5', 'coco/AP .75', 'coco/AR'):
        assert again[key] == pytest.approx(metrics[key], abs=1e-6), key


@pytest.mark.slow
def test_small_config_learns_on_bundled_coco(tmp_path):
    """The small two-stage config (PRTRHead), 200 epochs (200 iterations
    of its 8 persons) on the persons of the first 4 images, GT boxes;
    lr 1e-3 after a 20-iteration warm-up, no decay."""
    torch.set_num_threads(THREADS)
    cfg = Config.fromfile(TINY_CONFIG)
    # 1 thread (2026-12-02): COCO AP 0 -> 0.548 (AP50 1.0, AR 0.575) with
    # seed 0; 0.217 and 0.413 with seeds 1 and 2. 150 epochs gave 0.274
    # (seed 0) but 0.021 with seed 1: the coordinates leave the mean pose
    # late. The config's lr 5e-4 and schedule on 16 images took 134-145 s
    # for AP 0.069 (docs/benchmarks.md)
    cfg.train_cfg.max_epochs = 200
    cfg.optim_wrapper.optimizer.lr = 1e-3
    cfg.param_scheduler = [
        dict(
            type='LinearLR',
            start_factor=0.01,
            by_epoch=False,
            begin=0,
            end=20)
    ]
    start, end, runner = _on_first_images(cfg, tmp_path, num_images=4)
    first, last = _epoch_means(cfg.work_dir)
    print(f'\nsmall config on bundled COCO sample: loss {first:.3f} -> '
          f'{last:.3f}; coco/AP {start["coco/AP"]:.4f} -> '
          f'{end["coco/AP"]:.4f}, AP50 {start["coco/AP .5"]:.4f} -> '
          f'{end["coco/AP .5"]:.4f}, AP75 {start["coco/AP .75"]:.4f} -> '
          f'{end["coco/AP .75"]:.4f}, AR {start["coco/AR"]:.4f} -> '
          f'{end["coco/AR"]:.4f}')
    assert last < 0.5 * first
    # from scratch, a minute: clear gains, below those of the weakest of
    # the three seeds (the initial weights score 0 here)
    assert end['coco/AP'] > start['coco/AP'] + 0.12
    assert end['coco/AP .5'] > start['coco/AP .5'] + 0.3
    _onnxruntime_gives_same_metrics(runner, end, (1, 3, 128, 96), tmp_path)


CASCADE_CONFIG = osp.join(
    ROOT, 'configs', 'prtr-cascade_res18-tiny_1xb4-300e_coco-mini-192x192.py')


@pytest.mark.slow
def test_cascade_learns_on_bundled_coco(tmp_path):
    """The end-to-end cascade, trained from scratch for 450 epochs (450
    iterations of 4 images) on the first 4 images of the bundled sample and
    evaluated on them with its own person boxes: both stages' losses fall,
    person-box AP and keypoint AP rise above their start."""
    torch.set_num_threads(THREADS)
    cfg = Config.fromfile(CASCADE_CONFIG)
    # seed 0, 1 thread (2026-12-02): person box mAP 0 -> 0.298 (mAP50
    # 0.627), keypoint AP 0 -> 0.344 (AP50 0.507), 150-215 s; after 250
    # epochs box mAP was only 0.089 (the keypoint stage learns once the
    # boxes are good). 2 threads sum in another order: 0.226 / 0.344
    cfg.train_cfg.max_epochs = 450
    cfg.param_scheduler[0].update(end=450, milestones=[420])
    start, end, runner = _on_first_images(cfg, tmp_path, num_images=4)
    person = _epoch_means(cfg.work_dir, 'person.')
    kpt = _epoch_means(cfg.work_dir, 'kpt.')
    print(f'\ncascade on bundled COCO sample: person loss {person[0]:.3f} -> '
          f'{person[1]:.3f}, keypoint loss {kpt[0]:.3f} -> {kpt[1]:.3f}; '
          f'person/bbox_mAP {start["person/bbox_mAP"]:.4f} -> '
          f'{end["person/bbox_mAP"]:.4f}, bbox_mAP_50 '
          f'{start["person/bbox_mAP_50"]:.4f} -> '
          f'{end["person/bbox_mAP_50"]:.4f}; coco/AP '
          f'{start["coco/AP"]:.4f} -> {end["coco/AP"]:.4f}, AP50 '
          f'{start["coco/AP .5"]:.4f} -> {end["coco/AP .5"]:.4f}, AP75 '
          f'{start["coco/AP .75"]:.4f} -> {end["coco/AP .75"]:.4f}, AR '
          f'{start["coco/AR"]:.4f} -> {end["coco/AR"]:.4f}')
    assert person[1] < 0.7 * person[0]
    assert kpt[1] < 0.7 * kpt[0]
    # from scratch, two minutes: clear gains, about half the measured ones
    # (the initial weights score 0)
    assert end['person/bbox_mAP'] > start['person/bbox_mAP'] + 0.12
    assert end['person/bbox_mAP_50'] > start['person/bbox_mAP_50'] + 0.25
    assert end['coco/AP'] > start['coco/AP'] + 0.15
    assert end['coco/AP .5'] > start['coco/AP .5'] + 0.25
    _onnxruntime_gives_same_metrics(runner, end, (1, 3, 192, 192), tmp_path)


DEFORMABLE_55_CONFIG = osp.join(
    ROOT, 'configs',
    'prtr-cascade-deformable_res18-tiny_1xb4-150e_coco-mini-192x192.py')


@pytest.mark.slow
def test_deformable_cascade_learns_on_bundled_coco(tmp_path):
    """The cascade with its Deformable-DETR person stage, trained from
    scratch for 150 epochs (150 iterations of 4 images) on the first 4
    images of the bundled sample and evaluated on them with its own person
    boxes (2026-12-02, seed 0, 1 thread: person box mAP 0 -> 0.433, mAP50
    0.804, keypoint AP 0 -> 0.748, AP50 1.0, AR 0.788; 300 epochs gave box
    mAP 0.772 and keypoint AP 0.956); then the same metrics on
    onnxruntime."""
    torch.set_num_threads(THREADS)
    cfg = Config.fromfile(DEFORMABLE_55_CONFIG)
    cfg.train_cfg.max_epochs = 150
    cfg.param_scheduler[0].update(end=150, milestones=[140])
    start, end, runner = _on_first_images(cfg, tmp_path, num_images=4)
    print(f'\ndeformable cascade on 4 images: person/bbox_mAP '
          f'{start["person/bbox_mAP"]:.4f} -> {end["person/bbox_mAP"]:.4f}, '
          f'bbox_mAP_50 {end["person/bbox_mAP_50"]:.4f}; coco/AP '
          f'{start["coco/AP"]:.4f} -> {end["coco/AP"]:.4f}, AP50 '
          f'{end["coco/AP .5"]:.4f}, AP75 {end["coco/AP .75"]:.4f}, AR '
          f'{end["coco/AR"]:.4f}')
    assert start['person/bbox_mAP'] < 0.05 and start['coco/AP'] < 0.05
    # about half the measured figures
    assert end['person/bbox_mAP'] >= 0.2
    assert end['coco/AP'] >= 0.35
    _onnxruntime_gives_same_metrics(runner, end, (1, 3, 192, 192), tmp_path)


@pytest.mark.benchmark
def test_deformable_cascade_learns_all_55_images(tmp_path):
    """The cascade with its Deformable-DETR person stage, its small 150-epoch
    config as it is (2,100 iterations of 4 images), trained from scratch on
    all 55 images of the bundled sample and evaluated on them with its own
    person boxes: the issue's goal, person box mAP >= 0.3 and keypoint AP
    >= 0.1 (10 to 19 minutes with 2 threads, by machine: 1,102-1,127 s on
    the 2026-11-29 machines). A benchmark, not part of the test command
    (``pytest tests/test_real_data.py -m benchmark`` runs it)."""
    torch.set_num_threads(2)  # as recorded
    cfg = Config.fromfile(DEFORMABLE_55_CONFIG)
    start, end, _ = _on_first_images(cfg, tmp_path, num_images=55)
    print(f'\ndeformable cascade on all 55 images: person/bbox_mAP '
          f'{start["person/bbox_mAP"]:.4f} -> {end["person/bbox_mAP"]:.4f}, '
          f'bbox_mAP_50 {end["person/bbox_mAP_50"]:.4f}; coco/AP '
          f'{start["coco/AP"]:.4f} -> {end["coco/AP"]:.4f}, AP50 '
          f'{end["coco/AP .5"]:.4f}, AP75 {end["coco/AP .75"]:.4f}, AR '
          f'{end["coco/AR"]:.4f}')
    assert start['person/bbox_mAP'] < 0.05 and start['coco/AP'] < 0.05
    assert end['person/bbox_mAP'] >= 0.3
    assert end['coco/AP'] >= 0.1
