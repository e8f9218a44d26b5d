from .cascade_label import CascadeLabel
from .prtr_label import PRTRLabel

__all__ = ['PRTRLabel', 'CascadeLabel']
