# Copyright (c) prtr authors. All rights reserved.
"""ONNX export of PRTR: the network up to what inference needs.

The graph stops where PRTR's inference leaves tensor algebra: the Hungarian
matching of joints to queries (and everything after it: the codec, the
affine back to the image) runs on the host, by the same functions as
PyTorch inference (:func:`~prtr.models.heads.prtr_head.hungarian_match`).

==============  ==========================  ==================================
model           inputs                      outputs
==============  ==========================  ==================================
two-stage       ``inputs [B, 3, H, W]``     ``keypoint_probs [B, N, K]``,
(top-down)      (preprocessed crops)        ``keypoint_coords [B, N, 2]``
                                            (crop-normalised)
cascade         ``inputs [B, 3, H, W]``,    ``person_scores [B, P]``,
                ``pad_scale [B, 2]``        ``person_boxes [B, P, 4]``,
                                            ``keypoint_probs [B, P, N, K]``,
                                            ``keypoint_coords [B, P, N, 2]``
                                            (image-normalised)
==============  ==========================  ==================================
"""
import warnings
from typing import Optional, Sequence, Tuple

import torch
from mmpose.models.pose_estimators import TopdownPoseEstimator
from torch import Tensor, nn

from ..models.pose_estimators.prtr_cascade import PRTRCascade

TOPDOWN_OUTPUTS = ('keypoint_probs', 'keypoint_coords')
CASCADE_OUTPUTS = ('person_scores', 'person_boxes', 'keypoint_probs',
                   'keypoint_coords')


def graph_io_names(model: nn.Module
                   ) -> Tuple[Tuple[str, ...], Tuple[str, ...]]:
    """Input and output names of ``model``'s graph (see the module's
    table); a ``TypeError`` for a model that is neither form of PRTR."""
    if isinstance(model, PRTRCascade):
        return ('inputs', 'pad_scale'), CASCADE_OUTPUTS
    if isinstance(model, TopdownPoseEstimator) and hasattr(
            model.head, 'forward_probs'):
        return ('inputs', ), TOPDOWN_OUTPUTS
    raise TypeError(f'{type(model).__name__} with a '
                    f'{type(getattr(model, "head", None)).__name__} head is '
                    'not a PRTR model (two-stage PRTRHead or PRTRCascade)')


class ExportGraph(nn.Module):
    """The traced part of a PRTR model: preprocessed images in, what
    inference matches on out (the module's table).

    Args:
        model (nn.Module): a top-down estimator with a PRTR head, or a
            :class:`PRTRCascade`.
    """

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.input_names, self.output_names = graph_io_names(model)
        self.model = model

    def forward(self,
                inputs: Tensor,
                pad_scale: Optional[Tensor] = None) -> Tuple[Tensor, ...]:
        if isinstance(self.model, PRTRCascade):
            return self.model.forward_predict(inputs, pad_scale)
        return self.model.head.forward_probs(self.model.extract_feat(inputs))


def export_onnx(model: nn.Module,
                out_file: str,
                input_shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int = 17) -> Tuple[Tensor, ...]:
    """Write ``model``'s :class:`ExportGraph` to ``out_file``.

    The exporter is torch's TorchScript tracer (``dynamo=False``): the
    deformable variants' attention (mmcv's pure-PyTorch path) iterates over
    a tensor of level shapes, which the tracer records as constants (the
    input size is fixed; only the batch may vary) and ``torch.export``
    refuses as data-dependent.

    Args:
        model (nn.Module): the PRTR model, in eval mode on the CPU.
        out_file (str): the ``.onnx`` file to write.
        input_shape (Sequence[int]): ``(B, 3, H, W)`` of the traced input.
        dynamic_batch (bool): whether the graph takes any batch size.
        opset (int): ONNX opset (>= 16: ``GridSample``). Defaults to 17.

    Returns:
        tuple[Tensor]: PyTorch's outputs on the traced (random) input, the
        reference an export check compares onnxruntime's with.
    """
    graph = ExportGraph(model).eval()
    inputs = torch.randn(*input_shape)
    args = (inputs, inputs.new_ones(inputs.size(0), 2)) if len(
        graph.input_names) == 2 else (inputs, )
    dynamic_axes = {
        name: {
            0: 'batch'
        }
        for name in graph.input_names + graph.output_names
    } if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer's notes on Python values it records as constants
        # (shapes, the level sizes): fixed by design, the batch excepted
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        expected = graph(*args)
        torch.onnx.export(
            graph,
            args,
            out_file,
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            dynamic_axes=dynamic_axes,
            opset_version=opset,
            dynamo=False)
    return expected
