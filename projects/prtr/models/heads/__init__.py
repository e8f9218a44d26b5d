from .deformable_prtr_head import DeformablePRTRHead
from .prtr_head import PRTRHead

__all__ = ['PRTRHead', 'DeformablePRTRHead']
