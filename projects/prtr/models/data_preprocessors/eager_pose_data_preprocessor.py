# Copyright (c) prtr authors. All rights reserved.
"""mmpose's data preprocessor, kept out of ``torch.compile``."""
import torch
from mmpose.models.data_preprocessors import PoseDataPreprocessor
from mmpose.registry import MODELS


@MODELS.register_module()
class EagerPoseDataPreprocessor(PoseDataPreprocessor):
    """:class:`mmpose.models.PoseDataPreprocessor`, run eagerly under
    ``torch.compile``.

    mmengine's ``compile`` option compiles the model's whole ``train_step``,
    data preprocessing included; dynamo fails on it (it traces mmengine's
    ``BaseDataElement.to``, which deep-copies numpy metainfo). This class
    changes nothing else: the backbone, neck and head are still compiled,
    with graph breaks where PRTR leaves the device (Hungarian matching).
    """

    @torch.compiler.disable
    def forward(self, data: dict, training: bool = False) -> dict:
        return super().forward(data, training)
