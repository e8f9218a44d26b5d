# Copyright (c) prtr authors. All rights reserved.
"""One person of a COCO keypoint annotation file, read by xtcocotools."""
import contextlib
import io
import json
import os.path as osp
from typing import NamedTuple, Optional

import numpy as np

from prtr.utils import UserInputError


class CocoPerson(NamedTuple):
    """A person of a COCO annotation file.

    Attributes:
        file_name (str): its image, relative to the image directory.
        bbox (np.ndarray): box (x1, y1, x2, y2) in pixels.
        keypoints (np.ndarray, optional): ``[K, 3]`` (x, y, visibility).
        ann_id (int): annotation id.
    """
    file_name: str
    bbox: np.ndarray
    keypoints: Optional[np.ndarray]
    ann_id: int


def load_coco(ann_file: str):
    """An ``xtcocotools.coco.COCO`` of a file, its errors as
    :class:`UserInputError` naming the file."""
    from xtcocotools.coco import COCO
    if not osp.isfile(ann_file):
        raise UserInputError(f'annotation file not found: {ann_file}')
    try:
        with contextlib.redirect_stdout(io.StringIO()):  # its progress
            return COCO(ann_file)
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise UserInputError(f'annotation file {ann_file} is not valid '
                             f'JSON: {e}') from e
    except (AssertionError, KeyError, TypeError, AttributeError) as e:
        raise UserInputError(f'annotation file {ann_file} has no COCO '
                             '"annotations" and "images" lists') from e


def load_person(ann_file: str,
                index: Optional[int] = None,
                ann_id: Optional[int] = None) -> CocoPerson:
    """One non-crowd person with a box, by its index among them in file
    order (default 0) or by its annotation id.

    Raises:
        UserInputError: no such file, person or image.
    """
    coco = load_coco(ann_file)
    people = [
        a for a in coco.anns.values()
        if not a.get('iscrowd') and len(a.get('bbox', ())) == 4
        and a['bbox'][2] > 0 and a['bbox'][3] > 0
    ]
    if not people:
        raise UserInputError(f'annotation file {ann_file} has no person box')
    if ann_id is not None:
        found = [a for a in people if a.get('id') == ann_id]
        if not found:
            raise UserInputError(f'--ann-id {ann_id} is not a non-crowd '
                                 f'person annotation of {ann_file}')
        ann = found[0]
    else:
        index = 0 if index is None else index
        if not 0 <= index < len(people):
            raise UserInputError(
                f'--person {index} is out of range: {ann_file} has '
                f'{len(people)} people (0..{len(people) - 1})')
        ann = people[index]
    if ann['image_id'] not in coco.imgs:
        raise UserInputError(f'annotation {ann.get("id")} of {ann_file} '
                             f'names image id {ann["image_id"]}, which is '
                             'not in its "images"')
    x, y, w, h = ann['bbox']
    kpts = ann.get('keypoints')
    return CocoPerson(
        coco.loadImgs(ann['image_id'])[0]['file_name'],
        np.array([x, y, x + w, y + h], np.float32),
        np.array(kpts, np.float32).reshape(-1, 3) if kpts else None,
        ann.get('id'))
