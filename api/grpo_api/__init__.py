"""The GRPOJob contract shared by the operator and the trainer pod: the pydantic v2 models and their rules (the CRD
is generated from them), and in `constants`/`pod_paths` the names, paths, ports and exit codes both sides use."""

from .job import GRPOJob, GRPOJobInvalid, ObjectMeta, format_validation_error, parse_grpojob
from .spec import DRGRPO_LOSS_AGG_MODE, DataSource, GRPOJobSpec
from .status import PHASES, TERMINAL_PHASES, Condition, GRPOJobStatus

__all__ = [
    "DRGRPO_LOSS_AGG_MODE", "PHASES", "TERMINAL_PHASES", "Condition", "DataSource", "GRPOJob", "GRPOJobInvalid",
    "GRPOJobSpec", "GRPOJobStatus", "ObjectMeta", "format_validation_error", "parse_grpojob",
]
