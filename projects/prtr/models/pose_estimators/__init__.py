from .prtr_cascade import PRTRCascade

__all__ = ['PRTRCascade']
