# Copyright (c) prtr authors. All rights reserved.
"""ONNX export of PRTR's network up to the Hungarian matching, and
onnxruntime in its place (docs/deployment.md)."""
import warnings
from typing import BinaryIO, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from torch import Tensor, nn

from .models.pose_estimators.prtr_cascade import PRTRCascade
from .utils import UserInputError


class ExportGraph(nn.Module):
    """The exported part of a PRTR model (two-stage or cascade)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model
        outputs = ('keypoint_probs', 'keypoint_coords')
        if isinstance(model, PRTRCascade):
            self.input_names = ('inputs', 'pad_scale')
            self.output_names = ('person_scores', 'person_boxes') + outputs
        elif hasattr(getattr(model, 'head', None), 'forward_probs'):
            self.input_names, self.output_names = ('inputs', ), outputs
        else:
            raise UserInputError(
                f'{type(model).__name__} is not a PRTR model (two-stage '
                'PRTRHead or PRTRCascade): it has no ONNX export')

    def forward(self, *inputs: Tensor) -> Tuple[Tensor, ...]:
        if isinstance(self.model, PRTRCascade):
            return self.model.forward_predict(*inputs)
        return self.model.head.forward_probs(self.model.extract_feat(*inputs))

    def example_inputs(self, batch: int, height: int,
                       width: int) -> Tuple[Tensor, ...]:
        """Random images (and the cascade's ``pad_scale``: ones)."""
        images = torch.randn(batch, 3, height, width)
        return (images, torch.ones(batch, 2))[:len(self.input_names)]


def input_hw(cfg: Config) -> Tuple[int, int]:
    """The height and width of a PRTR config's input (its test pipeline's
    crop or canvas): the only size its graph takes."""
    pipeline = cfg.test_dataloader.dataset.pipeline
    w, h = next(t['input_size'] for t in pipeline if 'input_size' in t)
    return h, w


def export_onnx(model: nn.Module,
                out_file: Union[str, BinaryIO],
                input_shape: Sequence[int],
                dynamic_batch: bool = False,
                opset: int = 17) -> ExportGraph:
    """Write ``model``'s :class:`ExportGraph` (returned), traced by
    TorchScript on a random input of ``input_shape`` (B, 3, H, W): H and W
    are fixed (``torch.export`` refuses the deformable attention's loop
    over level shapes), the batch too unless ``dynamic_batch``."""
    graph = ExportGraph(model).eval()
    names = graph.input_names + graph.output_names
    axes = {name: {0: 'batch'} for name in names} if dynamic_batch else None
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer's notes on the shapes it records, and its deprecation
        warnings.simplefilter('ignore')
        torch.onnx.export(
            graph,
            graph.example_inputs(input_shape[0], *input_shape[2:]),
            out_file,
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False)
    return graph


class OnnxRuntimeGraph:
    """An exported graph (a file, or its bytes) in an onnxruntime CPU
    session, called as :class:`ExportGraph` is."""

    def __init__(self, onnx_file: Union[str, bytes]) -> None:
        import onnxruntime as ort
        self.name = onnx_file if isinstance(onnx_file, str) else 'the graph'
        try:
            self.session = ort.InferenceSession(
                onnx_file, providers=['CPUExecutionProvider'])
        except Exception as e:  # onnxruntime's Fail, NoSuchFile, ...
            raise UserInputError(
                f'cannot load ONNX model {self.name}: {e}') from e
        self.inputs = self.session.get_inputs()
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def __call__(self, *tensors: Tensor) -> Tuple[Tensor, ...]:
        # a dimension of the graph is an int where fixed, else a name
        want, got = self.inputs[0].shape, list(tensors[0].shape)
        if any(isinstance(w, int) and w != g for w, g in zip(want, got)):
            raise UserInputError(
                f'{self.name} takes inputs of {want}, got {got}: export '
                "the config's model (pytorch2onnx.py)")
        names = [i.name for i in self.inputs]
        arrays = [t.float().numpy(force=True) for t in tensors]
        outs = self.session.run(None, dict(zip(names, arrays)))
        return tuple(torch.from_numpy(o).to(tensors[0].device) for o in outs)


def attach_onnxruntime(model: nn.Module, onnx_file: str) -> nn.Module:
    """Run ``model``'s network by onnxruntime from now on (its data
    preprocessor, flip test, decoding and packing stay PyTorch's) and
    return it. ``onnx_file`` must be the export of a model of the same
    config: its outputs and keypoint count are checked."""
    graph = OnnxRuntimeGraph(onnx_file)
    # each output's last dimension (keypoint_probs: the keypoint count)
    outputs = {o.name: o.shape[-1] for o in graph.session.get_outputs()}
    names = ExportGraph(model).output_names
    k = model.head.num_keypoints
    if tuple(outputs) != names or outputs['keypoint_probs'] != k:
        raise UserInputError(
            f"{onnx_file} is not the export of this config's model ({k} "
            f'keypoints, outputs {names}): it returns {outputs}')
    if isinstance(model, PRTRCascade):
        model.forward_predict = graph
    else:
        # the graph starts at the preprocessed crops: they are the
        # features, and the graph is the head's network
        model.extract_feat = lambda inputs: (inputs, )
        model.head.forward_probs = lambda feats: graph(feats[-1])
    return model
