# PRTR R-50, COCO, 384x288: the official recipe lives in the base file.
_base_ = ['./_base_/prtr_coco.py']
