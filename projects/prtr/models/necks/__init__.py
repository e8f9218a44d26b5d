from .hrnetv2_cls_neck import HRNetV2ClsNeck

__all__ = ['HRNetV2ClsNeck']
