from .detr_transformer import DETR_TRANSFORMER, DetrTransformerMixin
from .spatial_transformer_crop import (SpatialTransformerCrop, crop_to_image,
                                       image_to_crop)

__all__ = [
    'DETR_TRANSFORMER', 'DetrTransformerMixin', 'SpatialTransformerCrop',
    'crop_to_image', 'image_to_crop'
]
