"""Where each input of a GRPOJob appears inside the trainer pod.

The operator mounts volumes at these paths and the trainer reads from them, so both call these pure functions.
"""

import posixpath

from .constants import DATA_DIR, OUTPUTS_DIR, PVC_DATA_DIR, REWARD_DIR
from .spec import DataSource, RewardSpec

INLINE_REWARD_KEY = "reward.py"
DOWNLOAD_DIR = posixpath.join(OUTPUTS_DIR, "data")
# Experiment trackers' local files on the outputs volume (they outlive the pod): the variables verl's Tracking
# (TENSORBOARD_DIR, SWANLAB_LOG_DIR) and the wandb client (WANDB_DIR) read.
TRACKER_DIRS = {"tensorboard": ("TENSORBOARD_DIR", posixpath.join(OUTPUTS_DIR, "tensorboard")),
                "wandb": ("WANDB_DIR", OUTPUTS_DIR),
                "swanlab": ("SWANLAB_LOG_DIR", posixpath.join(OUTPUTS_DIR, "swanlog"))}


def tracker_env(loggers: list[str]) -> dict[str, str]:
    """The environment that puts the listed trackers' local files on the outputs volume."""
    return dict(TRACKER_DIRS[name] for name in loggers if name in TRACKER_DIRS)


def pvc_mount_path(claim_name: str) -> str:
    return posixpath.join(PVC_DATA_DIR, claim_name)


def configmap_mount_path(configmap_name: str) -> str:
    return posixpath.join(DATA_DIR, configmap_name)


def data_file_path(source: DataSource) -> str:
    """The file the trainer reads for a data source (a URL is downloaded there first)."""
    if source.config_map is not None:
        return posixpath.join(configmap_mount_path(source.config_map.name), source.config_map.key)
    if source.pvc is not None:
        return posixpath.join(pvc_mount_path(source.pvc.claim_name), source.pvc.path.lstrip("/"))
    if source.url is not None:
        name = posixpath.basename(source.url.split("?", 1)[0]) or "data.json"
        return posixpath.join(DOWNLOAD_DIR, name)
    assert source.path is not None  # the model guarantees exactly one field
    return source.path


def reward_config_map_name(job_name: str) -> str:
    return f"{job_name}-reward"


def config_map_name(job_name: str) -> str:
    return f"{job_name}-config"


def reward_file_path(reward: RewardSpec) -> str | None:
    """The reward file inside the pod, or None for the builtin trainer_entry.reward_func."""
    if reward.config_map_ref is not None:
        return posixpath.join(REWARD_DIR, reward.config_map_ref.key)
    if reward.inline is not None:
        return posixpath.join(REWARD_DIR, INLINE_REWARD_KEY)
    return reward.path
