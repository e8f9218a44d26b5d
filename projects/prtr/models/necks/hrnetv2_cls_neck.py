# Copyright (c) prtr authors. All rights reserved.
"""HRNetV2 classification fusion, the neck of PRTR's HRNet-W32 models."""
from typing import Sequence, Tuple

from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpose.models.backbones.resnet import Bottleneck
from mmpose.registry import MODELS
from torch import Tensor, nn


@MODELS.register_module()
class HRNetV2ClsNeck(BaseModule):
    """Fuse HRNet's four branches into one stride-32 map, as HRNetV2-W32's
    ImageNet classifier does (Wang et al., TPAMI 2020), which PRTR uses as
    its HRNet backbone.

    Each branch goes through one bottleneck ("incre" module) to
    ``incre_channels * 4`` channels; the highest-resolution result is
    repeatedly downsampled (3x3 stride-2 conv-BN-ReLU) and added to the next
    branch; a 1x1 conv-BN-ReLU gives ``out_channels`` at the lowest
    resolution. mmpose has the HRNet backbone but not this head, whose
    module names follow the official weights
    (``incre_modules``, ``downsamp_modules``, ``final_layer``).

    Args:
        in_channels (Sequence[int]): channels of HRNet's branches.
        incre_channels (Sequence[int]): bottleneck widths (x4 = outputs).
        out_channels (int): channels of the output. Defaults to 2048.
        norm_cfg (dict): normalisation config.
    """

    def __init__(self,
                 in_channels: Sequence[int] = (32, 64, 128, 256),
                 incre_channels: Sequence[int] = (32, 64, 128, 256),
                 out_channels: int = 2048,
                 norm_cfg: dict = dict(type='BN'),
                 init_cfg=None) -> None:
        super().__init__(init_cfg=init_cfg)
        expansion = 4
        outs = [c * expansion for c in incre_channels]

        def conv_bn(c_in, c_out, k, stride=1, bias=False, relu=False):
            # plain Sequential: keys ``.0`` (conv) / ``.1`` (BN) as upstream
            layers = [
                build_conv_layer(
                    None, c_in, c_out, k, stride, k // 2, bias=bias),
                build_norm_layer(norm_cfg, c_out)[1]
            ]
            return nn.Sequential(*layers, *([nn.ReLU(True)] if relu else []))

        self.incre_modules = nn.ModuleList()
        for c_in, c_out in zip(in_channels, outs):
            downsample = None
            if c_in != c_out:
                downsample = conv_bn(c_in, c_out, 1)
            self.incre_modules.append(
                nn.Sequential(
                    Bottleneck(
                        c_in,
                        c_out,
                        expansion=expansion,
                        downsample=downsample,
                        norm_cfg=norm_cfg)))
        # HRNetV2's classifier gives these two convs a bias
        self.downsamp_modules = nn.ModuleList(
            conv_bn(c_in, c_out, 3, stride=2, bias=True, relu=True)
            for c_in, c_out in zip(outs[:-1], outs[1:]))
        self.final_layer = conv_bn(
            outs[-1], out_channels, 1, bias=True, relu=True)

    def forward(self, feats: Tuple[Tensor]) -> Tuple[Tensor]:
        """[bs, c_i, H/2^(i+2), W/2^(i+2)] x 4 -> ([bs, out, H/32, W/32], )"""
        y = self.incre_modules[0](feats[0])
        for i, down in enumerate(self.downsamp_modules):
            y = self.incre_modules[i + 1](feats[i + 1]) + down(y)
        return (self.final_layer(y), )
