# PRTR HRNet-W32, MPII, 384x384 (official: 4 GPUs x 16, backbone lr 1e-4,
# x0.5 at epoch 60, RGB input).
_base_ = ['./prtr_hrnet-w32_4xb16-200e_mpii-256x256.py']
from prtr.utils import at_input_size  # noqa: E402

# input size 384x384: the codec, the head's decoding and both pipelines
(codec, model, train_pipeline, val_pipeline, train_dataloader, val_dataloader,
 test_dataloader) = at_input_size(_base_, (384, 384))
