# mmpose's SimpleBaseline (ResNet-50 + deconvolution heatmap head), COCO,
# 384x288, unchanged: the heatmap baseline that
# tools/analysis_tools/benchmark.py sets against
# configs/prtr_res50_4xb32-200e_coco-384x288.py (same backbone and input).
_base_ = [
    'mmpose::body_2d_keypoint/topdown_heatmap/coco/'
    'td-hm_res50_8xb64-210e_coco-384x288.py'
]
