# Copyright (c) prtr authors. All rights reserved.
"""Pictures of what a PRTR model does: the query picture of one person
(README, "Query visualisation"). matplotlib is imported when drawing."""
from .coco_person import CocoPerson, load_person
from .query_outputs import QueryOutputs, query_points, run_model
from .query_visualizer import QueryVisualizer, joint_colors, match_queries

__all__ = [
    'CocoPerson', 'QueryOutputs', 'QueryVisualizer', 'joint_colors',
    'load_person', 'match_queries', 'query_points', 'run_model'
]
