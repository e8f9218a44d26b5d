_base_ = ['./_base_/prtr_mpii.py']
