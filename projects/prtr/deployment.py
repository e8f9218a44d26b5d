# Copyright (c) prtr authors. All rights reserved.
"""ONNX export of PRTR's network, and onnxruntime in its place. The graph
ends where inference leaves tensor algebra (docs/deployment.md): the
Hungarian matching and the codec stay on the host, PyTorch's code."""
import warnings
from typing import BinaryIO, Sequence, Tuple, Union

import torch
from mmengine.config import Config
from torch import Tensor, nn

from .models.pose_estimators.prtr_cascade import PRTRCascade
from .utils import UserInputError


class ExportGraph(nn.Module):
    """The exported part of a PRTR model; a ``TypeError`` for a model
    that is neither two-stage nor a cascade."""

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
            raise TypeError(f'{type(model).__name__} is not a PRTR model '
                            '(two-stage PRTRHead or PRTRCascade)')

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
                opset: int = 17) -> None:
    """Write the :class:`ExportGraph` of ``model`` (eval mode, CPU) traced
    on a random input of ``input_shape`` (B, 3, H, W), by the TorchScript
    tracer: ``torch.export`` refuses the deformable attention's loop over
    level shapes, which the tracer records as constants. So H and W are
    fixed; with ``dynamic_batch`` the batch is not."""
    graph = ExportGraph(model).eval()
    names = graph.input_names + graph.output_names
    axes = {name: {0: 'batch'} for name in names} if dynamic_batch else None
    batch, _, height, width = input_shape
    with torch.no_grad(), warnings.catch_warnings():
        # the tracer's notes on shapes it records as constants
        warnings.filterwarnings('ignore', category=torch.jit.TracerWarning)
        warnings.filterwarnings('ignore', category=DeprecationWarning)
        torch.onnx.export(
            graph,
            graph.example_inputs(batch, height, width),
            out_file,
            input_names=list(graph.input_names),
            output_names=list(graph.output_names),
            dynamic_axes=axes,
            opset_version=opset,
            dynamo=False)


class OnnxRuntimeGraph:
    """An exported graph in an onnxruntime CPU session, called as
    :class:`ExportGraph` is."""

    def __init__(self, onnx_file: str) -> None:
        import onnxruntime as ort
        try:
            self.session = ort.InferenceSession(
                onnx_file, providers=['CPUExecutionProvider'])
        except Exception as e:  # onnxruntime's Fail, NoSuchFile, ...
            raise UserInputError(
                f'cannot load ONNX model {onnx_file}: {e}') from e
        self.onnx_file = onnx_file
        self.inputs = self.session.get_inputs()
        self.output_names = tuple(o.name for o in self.session.get_outputs())

    def __call__(self, *tensors: Tensor) -> Tuple[Tensor, ...]:
        # a dimension of the graph is an int where fixed, else a name
        want, got = self.inputs[0].shape, list(tensors[0].shape)
        if any(isinstance(w, int) and w != g for w, g in zip(want, got)):
            raise UserInputError(
                f'{self.onnx_file} takes inputs of {want}, got {got}: export '
                "the config's model (pytorch2onnx.py)")
        feeds = {
            i.name: t.detach().cpu().float().numpy()
            for i, t in zip(self.inputs, tensors)
        }
        outs = self.session.run(None, feeds)  # numpy arrays
        return tuple(torch.from_numpy(o).to(tensors[0].device) for o in outs)


def attach_onnxruntime(model: nn.Module, onnx_file: str) -> nn.Module:
    """Run ``model``'s network by onnxruntime from now on (its data
    preprocessor, flip test, decoding and packing stay PyTorch's) and
    return it. ``onnx_file`` must be the export of a model of the same
    config: its outputs and keypoint count are checked."""
    graph = OnnxRuntimeGraph(onnx_file)
    expected = ExportGraph(model).output_names
    if graph.output_names != expected:
        raise UserInputError(
            f'{onnx_file} is not the export of this kind of model: it '
            f"returns {graph.output_names}, the config's model {expected}")
    num_keypoints = graph.session.get_outputs()[-2].shape[-1]  # probs
    if num_keypoints != model.head.num_keypoints:
        raise UserInputError(
            f'{onnx_file} predicts {num_keypoints} keypoints, the config\'s '
            f'model {model.head.num_keypoints}: export this config\'s model')
    if isinstance(model, PRTRCascade):
        model.forward_predict = graph
    else:
        # the graph starts at the preprocessed crops: they are the
        # features, and the graph is the head's network
        model.extract_feat = lambda inputs: (inputs, )
        model.head.forward_probs = lambda feats: graph(feats[-1])
    return model
