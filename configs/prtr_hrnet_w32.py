# The user-facing HRNet-W32 COCO model (384x288, 73.1 val AP officially):
#   tools/dist_train.sh configs/prtr_hrnet_w32.py 4
_base_ = ['./prtr_hrnet-w32_4xb16-200e_coco-384x288.py']
