"""The CrowdPose and COCO + AIC (CombinedDataset + KeypointConverter)
configs: each trains a step through tools/train.py on the bundled COCO
sample converted to that dataset's format (same images and persons, the
joints re-indexed as the format orders them)."""
import json
import math
import os.path as osp

import pytest
from _cli import run
from conftest import DATA_ROOT, PYTHON, ROOT

COCO_ANN = osp.join(DATA_ROOT, 'annotations',
                    'person_keypoints_train2017.json')
IMAGES = osp.join(DATA_ROOT, 'train2017') + '/'
# format index -> COCO index; the formats' head top and neck have none
CROWDPOSE_FROM_COCO = list(range(5, 17)) + [None, None]
# mmpose's body8 mapping (AIC index, COCO index), as in the config
AIC_FROM_COCO = [6, 8, 10, 5, 7, 9, 12, 14, 16, 11, 13, 15, None, None]


def convert(path, joints, names):
    """The bundled sample with each person's joints re-indexed."""
    with open(COCO_ANN) as f:
        coco = json.load(f)
    for ann in coco['annotations']:
        kpts = ann['keypoints']
        out = []
        for j in joints:
            out += [0, 0, 0] if j is None else kpts[3 * j:3 * j + 3]
        ann['keypoints'] = out
        ann['num_keypoints'] = sum(v > 0 for v in out[2::3])
    coco['categories'][0]['keypoints'] = names
    coco['categories'][0]['skeleton'] = []
    for img in coco['images']:
        img['crowdIndex'] = 0.0  # CrowdPose's image field
    with open(path, 'w') as f:
        json.dump(coco, f)
    return str(path)


# appended to a test's config, which sets both dataloaders' datasets
ONE_STEP = """
model = dict(backbone=dict(init_cfg=None))  # no weights to download here
train_cfg = dict(max_epochs=1, val_interval=100)
train_dataloader.update(batch_size=2, num_workers=0, persistent_workers=False)
val_dataloader.update(num_workers=0, persistent_workers=False)
test_dataloader = val_dataloader
default_hooks = dict(logger=dict(interval=1))
"""


def train_one_step(cfg_text, tmp_path):
    cfg_file = tmp_path / 'cfg.py'
    cfg_file.write_text(cfg_text + ONE_STEP)
    work_dir = tmp_path / 'work'
    proc = run(
        [PYTHON, 'tools/train.py',
         str(cfg_file), '--work-dir',
         str(work_dir)])
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (work_dir / 'epoch_1.pth').is_file()
    logs = list(work_dir.glob('*/vis_data/scalars.json'))
    with open(logs[0]) as f:
        losses = [json.loads(line)['loss'] for line in f if 'loss' in line]
    assert losses and all(math.isfinite(loss) for loss in losses)
    return losses


@pytest.mark.slow
def test_crowdpose_config_trains_a_step(tmp_path):
    ann = convert(tmp_path / 'crowdpose.json', CROWDPOSE_FROM_COCO, [
        'left_shoulder', 'right_shoulder', 'left_elbow', 'right_elbow',
        'left_wrist', 'right_wrist', 'left_hip', 'right_hip', 'left_knee',
        'right_knee', 'left_ankle', 'right_ankle', 'top_head', 'neck'
    ])
    config = osp.join(ROOT, 'configs',
                      'prtr_res50_4xb32-200e_crowdpose-384x288.py')
    data = (f"dict(data_root='', ann_file={ann!r}, "
            f"data_prefix=dict(img={IMAGES!r}), indices=2")
    train_one_step(
        f"_base_ = [{config!r}]\n"
        f"train_dataloader = dict(dataset={data}))\n"
        f"val_dataloader = dict(dataset={data}, bbox_file=None))\n"
        f"val_evaluator = dict(ann_file={ann!r})\n"
        "test_evaluator = val_evaluator\n", tmp_path)


@pytest.mark.slow
def test_coco_aic_combined_config_trains_a_step(tmp_path):
    """COCO's 17 joints and AIC's 14 (mapped onto COCO's by
    KeypointConverter) in one CombinedDataset: accepted by the tool's
    checks (model.head.num_keypoints=17) and trained."""
    ann = convert(tmp_path / 'aic.json', AIC_FROM_COCO, [
        'right_shoulder', 'right_elbow', 'right_wrist', 'left_shoulder',
        'left_elbow', 'left_wrist', 'right_hip', 'right_knee', 'right_ankle',
        'left_hip', 'left_knee', 'left_ankle', 'head_top', 'neck'
    ])
    config = osp.join(ROOT, 'configs',
                      'prtr_res50_4xb32-200e_coco-aic-384x288.py')
    val = (f"dict(data_root='', ann_file={COCO_ANN!r}, bbox_file=None, "
           f"data_prefix=dict(img={IMAGES!r}), indices=2)")
    losses = train_one_step(
        f"_base_ = [{config!r}]\n"
        "coco = dict(_base_.dataset_coco, data_root='', "
        f"ann_file={COCO_ANN!r}, "
        f"data_prefix=dict(img={IMAGES!r}), indices=2)\n"
        f"aic = dict(_base_.dataset_aic, data_root='', ann_file={ann!r}, "
        f"data_prefix=dict(img={IMAGES!r}), indices=2)\n"
        "train_dataloader = dict(dataset=dict(datasets=[coco, aic]))\n"
        f"val_dataloader = dict(dataset={val})\n"
        f"val_evaluator = dict(ann_file={COCO_ANN!r})\n"
        "test_evaluator = val_evaluator\n", tmp_path)
    # 2 COCO + 2 AIC persons, batches of 2: both parts were read
    assert len(losses) == 2
