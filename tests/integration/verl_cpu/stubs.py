"""The one place where this layer stands in for a module verl 0.9.1 imports but never calls on our CPU paths.

Only ``ray`` is stood in for, and only when it is not importable (``install()`` leaves a real Ray alone).
verl's modules import Ray at module level for type hints and decorators: ``ray.remote`` (classes and
functions decorated at import time), ``ray.ObjectRef``, ``ray.actor.ActorHandle``,
``ray.experimental.state.api.get_actor``, ``ray.util.placement_group.{PlacementGroup, placement_group}`` and
``ray.util.scheduling_strategies.{NodeAffinitySchedulingStrategy, PlacementGroupSchedulingStrategy}``.
The stand-in provides exactly these names:

- ``ray.remote`` returns the decorated class or function unchanged, so verl's worker classes
  (``RewardLoopWorker`` ...) are the real classes, instantiated in this process;
- the classes are empty placeholders (only ``isinstance``/annotations use them at import);
- the functions raise ``RuntimeError`` when called.

Left out, on purpose: everything that would start or talk to a Ray cluster (``ray.init``, ``ray.get``,
actors, placement groups, the runtime env). A test that reaches any of it fails with AttributeError or
RuntimeError naming this stub; what those paths do is verified against a real ``ray start --head`` elsewhere
(DESIGN.md, Ray facts), not here. vLLM itself is not stood in for. One verl module that imports it at the top is:
``verl.workers.rollout.vllm_rollout.utils``, from which ``validate_config`` imports only
``get_vllm_max_lora_rank`` for LoRA jobs. Without vLLM, that module is replaced by one holding exactly that
function compiled from verl's installed source (its own no-vLLM fallback: ranks 1..512); nothing else of the
module exists here. flash-attn, torchvision, transfer_queue are not stood in for: the paths this layer runs do
not import them (``RLHFDataset`` imports PIL, and Pillow is installed for real).
"""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path

STUB_MARK = "__grpo_verl_cpu_stub__"


def _not_here(name: str):
    def fn(*args, **kwargs):
        raise RuntimeError(f"{name} is a stand-in (tests/integration/verl_cpu/stubs.py): no Ray cluster on this path")

    fn.__name__ = name.rsplit(".", 1)[-1]
    return fn


def _remote(*args, **kwargs):
    """``@ray.remote`` and ``@ray.remote(num_cpus=...)``: the decorated object itself."""
    if len(args) == 1 and not kwargs and callable(args[0]):
        return args[0]
    return lambda obj: obj


def _module(name: str, **attrs) -> types.ModuleType:
    mod = types.ModuleType(name)
    mod.__path__ = []  # a package, so submodules resolve from sys.modules
    setattr(mod, STUB_MARK, True)
    for key, value in attrs.items():
        setattr(mod, key, value)
    return mod


def _placeholder(name: str) -> type:
    return type(name, (), {"__module__": "ray (stand-in)"})


def ray_modules() -> dict[str, types.ModuleType]:
    mods = {
        "ray": _module("ray", remote=_remote, ObjectRef=_placeholder("ObjectRef"), __version__="0+stub"),
        "ray.actor": _module("ray.actor", ActorHandle=_placeholder("ActorHandle")),
        "ray.experimental": _module("ray.experimental"),
        "ray.experimental.state": _module("ray.experimental.state"),
        "ray.experimental.state.api": _module(
            "ray.experimental.state.api", get_actor=_not_here("ray.experimental.state.api.get_actor")
        ),
        "ray.util": _module("ray.util"),
        "ray.util.placement_group": _module(
            "ray.util.placement_group",
            PlacementGroup=_placeholder("PlacementGroup"),
            placement_group=_not_here("ray.util.placement_group.placement_group"),
        ),
        "ray.util.scheduling_strategies": _module(
            "ray.util.scheduling_strategies",
            NodeAffinitySchedulingStrategy=_placeholder("NodeAffinitySchedulingStrategy"),
            PlacementGroupSchedulingStrategy=_placeholder("PlacementGroupSchedulingStrategy"),
        ),
    }
    for full, mod in mods.items():  # parent.child attributes, as a real import would set them
        if "." in full:
            parent, child = full.rsplit(".", 1)
            setattr(mods[parent], child, mod)
    return mods


VLLM_UTILS = "verl.workers.rollout.vllm_rollout.utils"


def vllm_utils_module() -> types.ModuleType:
    """``verl.workers.rollout.vllm_rollout.utils`` holding only verl's own ``get_vllm_max_lora_rank``."""
    import ast
    from typing import Literal, get_args

    path = Path(importlib.util.find_spec("verl").origin).parent / "workers/rollout/vllm_rollout/utils.py"
    fn = next(n for n in ast.parse(path.read_text()).body
              if isinstance(n, ast.FunctionDef) and n.name == "get_vllm_max_lora_rank")
    mod = _module(VLLM_UTILS, Literal=Literal, get_args=get_args)
    del mod.__path__
    exec(compile(ast.Module(body=[fn], type_ignores=[]), str(path), "exec"), mod.__dict__)
    return mod


def install() -> list[str]:
    """Put the stand-ins into sys.modules for the names that are not importable; returns what it stood in for."""
    mods: dict[str, types.ModuleType] = {}
    if "ray" not in sys.modules and importlib.util.find_spec("ray") is None:
        mods.update(ray_modules())
    if importlib.util.find_spec("vllm") is None and VLLM_UTILS not in sys.modules:
        mods[VLLM_UTILS] = vllm_utils_module()
    sys.modules.update(mods)
    return sorted(mods)
