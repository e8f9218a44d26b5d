# Copyright (c) prtr authors. All rights reserved.
"""The end-to-end cascade against two-stage PRTR behind an mmdet person
detector of the same size, per image: parameters, FLOPs, latency.

Both systems take the same synthetic image and end with persons and their
keypoints in image pixels, as a user's demo would run them:

- cascade: mmpose's ``inference_bottomup`` (the config's test pipeline, one
  ``test_step``: person transformer, crops, keypoint transformer, flip test
  as configured), its ``test_cfg.max_persons`` set to the number of persons;
- two-stage: mmdet's ``inference_detector`` (the detector's test pipeline,
  resized to the cascade's canvas), then mmpose's ``inference_topdown`` on
  that many person boxes (one affine crop each, one batched ``test_step``),
  as mmpose's ``topdown_demo_with_mmdet.py`` does. The boxes are fixed, not
  the random detector's, so that both systems handle the same count.
"""
import os.path as osp
import statistics
import warnings
from typing import Dict, List, Optional, Sequence

import numpy as np
import torch
from mmengine.config import Config
from mmengine.registry import DefaultScope

from .config import input_size_of, load_config, strip_init_cfg
from .measure import model_figures, quiet_logs, time_steps

# mmdet's detector of the cascade's person stage (same transformer, same
# backbone): person head type, backbone depth, box refinement, two-stage
DETECTORS = {
    ('DETRPersonHead', 50, False, False):
    'mmdet::detr/detr_r50_8xb2-150e_coco.py',
    ('DeformableDETRPersonHead', 50, False, False):
    'mmdet::deformable_detr/deformable-detr_r50_16xb2-50e_coco.py',
    ('DeformableDETRPersonHead', 50, True, False):
    'mmdet::deformable_detr/deformable-detr-refine_r50_16xb2-50e_coco.py',
    ('DeformableDETRPersonHead', 50, True, True):
    'mmdet::deformable_detr/'
    'deformable-detr-refine-twostage_r50_16xb2-50e_coco.py',
}
# the two-stage PRTR model the cascade is set against (same backbone)
TOPDOWN = {50: 'configs/prtr_res50_4xb32-200e_coco-384x288.py'}


def default_detector(cfg: Config) -> str:
    """mmdet's config of the detector the cascade's person stage mirrors.

    Raises:
        ValueError: for a person stage mmdet has no same-size detector of.
    """
    head = cfg.model.person_head
    key = (head.type, cfg.model.backbone.get('depth'),
           bool(head.get('with_box_refine')), bool(head.get('as_two_stage')))
    if key not in DETECTORS:
        raise ValueError(
            f'no mmdet detector of the size of this cascade\'s person stage '
            f'({key[0]}, ResNet-{key[1]}): name one with --detector')
    return DETECTORS[key]


def default_topdown(cfg: Config) -> str:
    """The two-stage PRTR config with the cascade's backbone."""
    depth = cfg.model.backbone.get('depth')
    if depth not in TOPDOWN:
        raise ValueError(f'no two-stage PRTR config with ResNet-{depth}: '
                         'name one with --topdown')
    return TOPDOWN[depth]


def detector_config(path: str,
                    canvas: Sequence[int],
                    root: str = '.') -> Config:
    """An mmdet config (a file, or ``mmdet::`` one of mmdet's) whose test
    pipeline resizes to the cascade's canvas (keeping the aspect ratio, as
    mmdet's DETR configs do)."""
    if '::' in path:
        from mmengine.hub import get_config
        cfg = get_config(path)
    else:
        cfg = Config.fromfile(
            path if osp.isabs(path) else osp.join(root, path))
    for t in cfg.test_dataloader.dataset.pipeline:
        if t['type'] in ('Resize', 'mmdet.Resize'):
            t['scale'] = tuple(canvas)
    return cfg


def person_boxes(num: int, width: int, height: int) -> np.ndarray:
    """``num`` fixed person-like boxes (xyxy) spread over the image."""
    rng = np.random.default_rng(0)
    w = rng.uniform(0.1, 0.4, num) * width
    h = np.minimum(w * rng.uniform(1.5, 3.0, num), 0.9 * height)
    x = rng.uniform(0, width - w)
    y = rng.uniform(0, height - h)
    return np.stack([x, y, x + w, y + h], 1).astype(np.float32)


@quiet_logs
def pose_model(cfg: Config, device: str):
    """An mmpose model of the config by mmpose's ``init_model`` (as the
    demos build it), random weights."""
    from mmpose.apis import init_model
    cfg = Config(cfg.to_dict())
    strip_init_cfg(cfg._cfg_dict)
    model = init_model(cfg, None, device)
    model.init_weights()
    return model


@quiet_logs
def detector_model(cfg: Config, device: str):
    """An mmdet detector of the config by mmdet's ``init_detector``, random
    weights."""
    from mmdet.apis import init_detector
    cfg = Config(cfg.to_dict())
    strip_init_cfg(cfg._cfg_dict)
    with DefaultScope.overwrite_default_scope('mmdet'), \
            warnings.catch_warnings():
        # "checkpoint is None, use COCO classes": random weights on purpose
        warnings.simplefilter('ignore', UserWarning)
        model = init_detector(cfg, None, device=device)
        model.init_weights()
    return model


def detector_figures(cfg: Config, canvas: Sequence[int]) -> dict:
    """Parameters (millions) and GFLOPs of an mmdet detector on one image
    of the canvas size (``mode='tensor'``, as mmdet's ``get_flops.py``)."""
    from mmdet.structures import DetDataSample
    from mmengine.analysis import get_model_complexity_info
    from mmengine.structures import InstanceData
    model = detector_model(cfg, 'cpu')
    w, h = canvas
    sample = DetDataSample(
        metainfo=dict(img_shape=(h, w), ori_shape=(h, w), scale_factor=(1, 1)))
    sample.gt_instances = InstanceData()
    data = model.data_preprocessor(
        dict(
            inputs=[torch.zeros(3, h, w, dtype=torch.uint8)],
            data_samples=[sample]), False)
    samples = data['data_samples']
    model.forward = lambda x: model._forward(x, samples)
    info = quiet_logs(get_model_complexity_info)(
        model, inputs=(data['inputs'], ), show_table=False, show_arch=False)
    return dict(params=info['params'] / 1e6, gflops=info['flops'] / 1e9)


def run_cascade_benchmark(cascade: str,
                          persons: Sequence[int],
                          detector: Optional[str] = None,
                          topdown: Optional[str] = None,
                          root: str = '.',
                          device: str = 'cpu',
                          image_size: Optional[Sequence[int]] = None,
                          cfg_options: Optional[dict] = None,
                          flip_test: str = 'config',
                          warmup: int = 1,
                          repeats: int = 10,
                          min_repeats: int = 3,
                          time_limit: float = 60.) -> dict:
    """Measure the cascade and its two-stage counterpart.

    Args:
        cascade (str): the cascade's config.
        persons (Sequence[int]): persons per image to time each system with.
        detector (str, optional): mmdet config of the person detector
            (default: :func:`default_detector`).
        topdown (str, optional): two-stage PRTR config (default: the one
            with the cascade's backbone).
        root (str): directory of relative config paths.
        device (str): ``'cpu'`` or a CUDA device.
        image_size (Sequence[int], optional): (w, h) of the synthetic image
            (default: the cascade's canvas).
        cfg_options (dict, optional): merged into the cascade's config.
        flip_test (str): ``'config'``, ``'on'`` or ``'off'``, both systems.
        warmup, repeats, min_repeats, time_limit: as
            :func:`prtr.benchmarking.measure.time_steps`.

    Returns:
        dict: ``configs`` (cascade, detector, topdown), ``canvas``,
        ``image_size``, ``figures`` (params of the cascade, params and
        GFLOPs of the detector and of PRTR on one crop), and per person count
        ``latency`` (median ms of both systems, their fastest repeats and
        the repeats done).
    """
    opts = dict(root=root, flip_test=flip_test)
    cas_cfg = load_config(cascade, cfg_options=cfg_options, **opts)
    canvas = input_size_of(cas_cfg)
    detector = detector or default_detector(cas_cfg)
    topdown = topdown or default_topdown(cas_cfg)
    det_cfg = detector_config(detector, canvas, root)
    td_cfg = load_config(topdown, **opts)
    width, height = image_size or canvas
    num_queries = cas_cfg.model.person_head.get('num_queries')
    if num_queries and max(persons) > num_queries:
        raise ValueError(
            f'--persons {max(persons)}: the cascade\'s person stage has '
            f'{num_queries} queries, so it keeps at most that many persons '
            'per image; ask for fewer')
    # the cascade's keypoint stage runs on max_persons persons per image:
    # its FLOPs per person count
    cascade_figures = {}
    for num in persons:
        cfg = Config(cas_cfg.to_dict())
        cfg.model.test_cfg['max_persons'] = num
        cascade_figures[num] = model_figures(cfg)
    # params do not depend on the person count; GFLOPs are per count below
    cascade_params = {
        k: v
        for k, v in cascade_figures[persons[0]].items() if k != 'gflops'
    }
    figures = dict(
        cascade=cascade_params,
        detector=detector_figures(det_cfg, canvas),
        topdown=model_figures(td_cfg))
    figures['cascade']['flip_test'] = bool(
        cas_cfg.model.test_cfg.get('flip_test'))
    figures['topdown']['flip_test'] = bool(
        td_cfg.model.get('test_cfg', {}).get('flip_test'))

    from mmdet.apis import inference_detector
    from mmpose.apis import inference_bottomup, inference_topdown
    img = np.random.default_rng(0).integers(
        0, 256, (height, width, 3), dtype=np.uint8)
    det_model = detector_model(det_cfg, device)
    td_model = pose_model(td_cfg, device)
    cas_model = pose_model(cas_cfg, device)
    sync = torch.cuda.synchronize if device.startswith('cuda') else (
        lambda: None)
    latency: Dict[int, dict] = {}
    for num in persons:
        boxes = person_boxes(num, width, height)
        cas_model.test_cfg['max_persons'] = num

        def two_stage():
            with torch.no_grad():
                # mmdet's pipeline types resolve in mmdet's scope (the
                # scope switch costs microseconds of the timed step)
                with DefaultScope.overwrite_default_scope('mmdet'):
                    inference_detector(det_model, img)
                return inference_topdown(td_model, img, boxes)

        def end_to_end():
            with torch.no_grad():
                return inference_bottomup(cas_model, img)

        times = quiet_logs(time_steps)([end_to_end, two_stage], sync, warmup,
                                       repeats, time_limit, min_repeats)
        latency[num] = dict(
            cascade=statistics.median(times[0]) * 1e3,
            two_stage=statistics.median(times[1]) * 1e3,
            min_cascade=min(times[0]) * 1e3,
            min_two_stage=min(times[1]) * 1e3,
            repeats=len(times[0]),
            cascade_gflops=cascade_figures[num]['gflops'])
    return dict(
        configs=dict(cascade=cascade, detector=detector, topdown=topdown),
        canvas=canvas,
        image_size=(width, height),
        figures=figures,
        latency=latency,
        threads=torch.get_num_threads())


def render_cascade_report(out: dict, meta: dict) -> List[str]:
    """Markdown lines of :func:`run_cascade_benchmark`'s result."""
    f, c = out['figures'], out['configs']
    cas, det, td = f['cascade'], f['detector'], f['topdown']
    cw, ch = out['canvas']
    tw, th = td['input_size']
    flips = 2 if td['flip_test'] else 1
    lines = [
        f'# End-to-end cascade vs two-stage PRTR: {meta["device_kind"]} '
        'benchmark', '', f'- Date: {meta["date"]}',
        f'- Machine: {meta["machine"]}', f'- Software: {meta["software"]}; '
        f'prtr: {meta["prtr"]}', f'- Device: `{meta["device"]}`, torch '
        f'threads: {out["threads"]}', f'- Command: `{meta["command"]}`', '',
        f'- cascade: `{osp.basename(c["cascade"])}` ({cw}x{ch} canvas, '
        f'flip test {"on" if cas["flip_test"] else "off"})',
        f'- two-stage: person detector `{c["detector"]}` (resized to the '
        f'{cw}x{ch} canvas) + `{osp.basename(c["topdown"])}` ({tw}x{th} '
        f'crops, flip test {"on" if td["flip_test"] else "off"})', '',
        '| persons per image | | params (M) | GFLOPs (no flip) | latency per '
        'image (ms, median) | fastest repeat (ms) |', '|---:|---|---:|---:|'
        '---:|---:|'
    ]
    for num, lat in out['latency'].items():
        num = int(num)
        two_stage_gflops = det['gflops'] + num * td['gflops']
        lines += [
            f'| {num} | cascade | {cas["params"]:.1f} | '
            f'{lat["cascade_gflops"]:.1f} | '
            f'{lat["cascade"]:.1f} | {lat["min_cascade"]:.1f} |',
            f'| {num} | detector + PRTR | {det["params"] + td["params"]:.1f} '
            f'| {two_stage_gflops:.1f} | '
            f'{lat["two_stage"]:.1f} | {lat["min_two_stage"]:.1f} |',
            f'| {num} | ratio cascade / two-stage | '
            f'{cas["params"] / (det["params"] + td["params"]):.2f} | '
            f'{lat["cascade_gflops"] / two_stage_gflops:.2f} | '
            f'**{lat["cascade"] / lat["two_stage"]:.2f}** | '
            f'{lat["min_cascade"] / lat["min_two_stage"]:.2f} |'
        ]
    lines += [
        '', 'FLOPs: mmengine\'s count of one forward pass without flip (one '
        'multiply-add = one FLOP); the cascade\'s keypoint stage on that '
        f'many persons; detector {det["gflops"]:.1f} G on the {cw}x{ch} '
        f'canvas, PRTR {td["gflops"]:.2f} G per {tw}x{th} crop. Latency '
        'includes each system\'s test pipeline and flip test (two-stage: '
        f'{flips} PRTR pass{"es" if flips > 1 else ""} per crop).'
    ]
    return lines
