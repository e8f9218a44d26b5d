from .keypoint_hungarian_assigner import KeypointHungarianAssigner
from .linear_assignment import (batched_linear_assignment,
                                device_linear_assignment, linear_assignment)
from .match_costs import KeypointClassCost, KeypointL1Cost

__all__ = [
    'KeypointHungarianAssigner', 'KeypointClassCost', 'KeypointL1Cost',
    'batched_linear_assignment', 'device_linear_assignment',
    'linear_assignment'
]
