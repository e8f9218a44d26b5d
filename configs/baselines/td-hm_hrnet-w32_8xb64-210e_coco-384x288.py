# mmpose's HRNet-W32 heatmap model, COCO, 384x288, unchanged: the heatmap
# baseline that tools/analysis_tools/benchmark.py sets against
# configs/prtr_hrnet-w32_4xb16-200e_coco-384x288.py (same backbone and input).
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_hrnet-w32_8xb64-210e_coco-384x288.py'
]
