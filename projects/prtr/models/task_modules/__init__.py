from .keypoint_hungarian_assigner import KeypointHungarianAssigner
from .match_costs import KeypointL1Cost

__all__ = ['KeypointHungarianAssigner', 'KeypointL1Cost']
