# Copyright (c) prtr authors. All rights reserved.
"""Deployment: ONNX export of what inference needs of the network, and
onnxruntime in place of PyTorch for it; PRTR's Hungarian decoding stays on
the host, the same code as PyTorch inference."""
from .onnx_export import ExportGraph, export_onnx, graph_io_names
from .onnxruntime_backend import OnnxRuntimeGraph, attach_onnxruntime

__all__ = [
    'ExportGraph', 'OnnxRuntimeGraph', 'attach_onnxruntime', 'export_onnx',
    'graph_io_names'
]
