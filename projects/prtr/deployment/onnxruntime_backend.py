# Copyright (c) prtr authors. All rights reserved.
"""onnxruntime in place of PyTorch for the network of a PRTR model.

:func:`attach_onnxruntime` makes an mmpose model (as built by
``init_model`` or ``MMPoseInferencer``) run its exported graph
(:mod:`.onnx_export`) where it ran the network; its data preprocessor,
flip test, Hungarian decoding, codec and packing stay PyTorch's, so the
two backends share all code but the graph.
"""
from typing import Tuple

import numpy as np
import torch
from torch import Tensor, nn

from ..models.pose_estimators.prtr_cascade import PRTRCascade
from ..utils import UserInputError
from .onnx_export import graph_io_names


class OnnxRuntimeGraph:
    """An exported PRTR graph in an onnxruntime session, called with and
    returning torch tensors (on the CPU, or back on the inputs' device).

    Args:
        onnx_file (str): the ``.onnx`` file of
            ``tools/deployment/pytorch2onnx.py``.
        providers (list[str], optional): onnxruntime execution providers
            (default: the CPU).
    """

    def __init__(self, onnx_file: str, providers=None) -> None:
        try:
            import onnxruntime as ort
        except ImportError as e:
            raise UserInputError(
                'the onnxruntime backend needs onnxruntime: pip install '
                '"prtr[deploy]" (or onnxruntime)') from e
        try:
            self.session = ort.InferenceSession(
                onnx_file, providers=providers or ['CPUExecutionProvider'])
        except Exception as e:  # onnxruntime raises its own Fail/NoSuchFile
            raise UserInputError(
                f'cannot load ONNX model {onnx_file}: '
                f'{str(e).splitlines()[0] if str(e) else type(e).__name__}'
            ) from e
        self.onnx_file = onnx_file
        self.input_names = tuple(i.name for i in self.session.get_inputs())
        self.output_names = tuple(o.name for o in self.session.get_outputs())
        # the batch the graph was traced with (None where it is dynamic)
        # and its input size
        batch, _, height, width = self.session.get_inputs()[0].shape
        self.batch = batch if isinstance(batch, int) else None
        self.input_hw = (height, width)

    def __call__(self, *tensors: Tensor) -> Tuple[Tensor, ...]:
        if self.batch is not None and tensors[0].size(0) != self.batch:
            raise UserInputError(
                f'{self.onnx_file} takes batches of {self.batch}, got '
                f'{tensors[0].size(0)} (a top-down model gets all the persons '
                'of an image in one batch, twice with flip test): export '
                'without --static-batch')
        if all(isinstance(d, int) for d in self.input_hw) and tuple(
                tensors[0].shape[-2:]) != self.input_hw:
            raise UserInputError(
                f'{self.onnx_file} takes inputs of {self.input_hw[0]}x'
                f'{self.input_hw[1]} (H x W), got '
                f'{tensors[0].size(-2)}x{tensors[0].size(-1)}: export it at '
                'the config\'s input size (pytorch2onnx.py without --shape)')
        feeds = {
            name: t.detach().cpu().float().numpy()
            for name, t in zip(self.input_names, tensors)
        }
        outs = self.session.run(list(self.output_names), feeds)
        device = tensors[0].device
        return tuple(torch.from_numpy(np.asarray(o)).to(device) for o in outs)


def attach_onnxruntime(model: nn.Module,
                       onnx_file: str,
                       providers=None) -> nn.Module:
    """Run ``model``'s network by onnxruntime from now on.

    ``onnx_file`` must be the export of a model of the same config (its
    input and output names are checked). Returns ``model``.
    """
    graph = OnnxRuntimeGraph(onnx_file, providers)
    inputs, outputs = graph_io_names(model)
    if (graph.input_names, graph.output_names) != (inputs, outputs):
        raise UserInputError(
            f'{onnx_file} is not the export of this kind of model: its graph '
            f'maps {list(graph.input_names)} -> {list(graph.output_names)}, '
            f'the config\'s model needs {list(inputs)} -> {list(outputs)}')
    num_keypoints = graph.session.get_outputs()[outputs.index(
        'keypoint_probs')].shape[-1]
    head = model.head
    if num_keypoints != head.num_keypoints:
        raise UserInputError(
            f'{onnx_file} predicts {num_keypoints} keypoints, the config\'s '
            f'model {head.num_keypoints}: export this config\'s model')
    if isinstance(model, PRTRCascade):
        model.forward_predict = graph
    else:
        # the graph starts at the preprocessed crops: the estimator's
        # features are the crops themselves, and the head's network is the
        # graph (flip test: both halves in one call)
        model.extract_feat = lambda inputs: (inputs, )
        model.head.forward_probs = lambda feats: graph(feats[-1])
    return model
