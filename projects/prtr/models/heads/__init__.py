from .prtr_head import PRTRHead

__all__ = ['PRTRHead']
