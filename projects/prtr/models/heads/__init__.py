from .cascade_keypoint_head import CascadeKeypointHead
from .deformable_detr_person_head import DeformableDETRPersonHead
from .deformable_prtr_head import DeformablePRTRHead
from .detr_person_head import DETRPersonHead
from .prtr_head import PRTRHead

__all__ = [
    'PRTRHead', 'DeformablePRTRHead', 'DETRPersonHead', 'CascadeKeypointHead',
    'DeformableDETRPersonHead'
]
