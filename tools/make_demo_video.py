# Copyright (c) prtr authors. All rights reserved.
"""Write a short video from still images, for the video demos.

    python tools/make_demo_video.py OUT.mp4 [--images DIR] [--num 8]
        [--size 320 240] [--fps 2] [--repeat 1]

Takes the first ``--num`` images of ``--images`` (sorted by name; default
the bundled data/coco_persons_mini/train2017), resizes each to one
``--size`` (width height) and writes them with ``cv2.VideoWriter``
(``mp4v`` for .mp4, ``MJPG`` for .avi), each frame ``--repeat`` times.
"""
import argparse
import glob
import os
import os.path as osp
import sys

try:
    import prtr  # noqa: F401
except ImportError:  # a plain checkout: the package lives in projects/
    sys.path.insert(0, osp.join(osp.dirname(__file__), '..', 'projects'))
    import prtr  # noqa: F401

import cv2

from prtr.cli import run_cli
from prtr.utils import UserInputError

DATA = 'data/coco_persons_mini/train2017'
FOURCC = {'.mp4': 'mp4v', '.avi': 'MJPG'}
IMAGE_EXTS = ('.jpg', '.jpeg', '.png', '.bmp')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument('out', help='output video file (.mp4 or .avi)')
    parser.add_argument(
        '--images',
        default=DATA,
        help='folder of images (default: %(default)s)')
    parser.add_argument(
        '--num', type=int, default=8, help='number of images (frames)')
    parser.add_argument(
        '--size',
        type=int,
        nargs=2,
        default=(320, 240),
        metavar=('W', 'H'),
        help='frame size in pixels')
    parser.add_argument('--fps', type=float, default=2.0)
    parser.add_argument(
        '--repeat', type=int, default=1, help='times each image is written')
    return parser.parse_args(argv)


def list_images(folder):
    if not osp.isdir(folder):
        raise UserInputError(f'image folder not found: {folder}')
    files = sorted(
        f for f in glob.glob(osp.join(folder, '*'))
        if f.lower().endswith(IMAGE_EXTS))
    if not files:
        raise UserInputError(f'no images ({", ".join(IMAGE_EXTS)}) in '
                             f'{folder}')
    return files


def make_video(out, images, size, fps=2.0, repeat=1):
    """Write ``images`` (paths) resized to ``size`` (w, h) into ``out``.

    Returns:
        int: the number of frames written.
    """
    ext = osp.splitext(out)[1].lower()
    if ext not in FOURCC:
        raise UserInputError(f'output video {out}: the extension must be one '
                             f'of {", ".join(FOURCC)}')
    width, height = size
    if width <= 0 or height <= 0 or width % 2 or height % 2:
        raise UserInputError(f'--size {width} {height}: width and height '
                             'must be positive and even')
    if fps <= 0 or repeat <= 0:
        raise UserInputError(f'--fps {fps} and --repeat {repeat} must be '
                             'positive')
    if osp.dirname(out):
        os.makedirs(osp.dirname(out), exist_ok=True)
    writer = cv2.VideoWriter(out, cv2.VideoWriter_fourcc(*FOURCC[ext]), fps,
                             (width, height))
    if not writer.isOpened():
        raise UserInputError(f'cannot write video {out} (OpenCV has no '
                             f'{FOURCC[ext]} encoder here; try .avi)')
    frames = 0
    try:
        for path in images:
            img = cv2.imread(path)
            if img is None:
                raise UserInputError(f'cannot read image {path}')
            img = cv2.resize(
                img, (width, height), interpolation=cv2.INTER_AREA)
            for _ in range(repeat):
                writer.write(img)
                frames += 1
    finally:
        writer.release()
    return frames


def main(argv=None):
    args = parse_args(argv)
    if args.num <= 0:
        raise UserInputError(f'--num {args.num} must be positive')
    images = list_images(args.images)[:args.num]
    frames = make_video(args.out, images, tuple(args.size), args.fps,
                        args.repeat)
    print(f'{frames} frames ({len(images)} images, {args.size[0]}x'
          f'{args.size[1]}, {args.fps:g} fps): {args.out}')


if __name__ == '__main__':
    run_cli(main)
