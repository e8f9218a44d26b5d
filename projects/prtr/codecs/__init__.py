from .prtr_label import PRTRLabel

__all__ = ['PRTRLabel']
