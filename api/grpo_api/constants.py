"""Names shared by the API, the operator, the trainer entrypoint and the chart.

Everything that two components must agree on (API group, labels, mount paths, ports)
lives here and nowhere else.
"""

GROUP = "grpo.dev"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "GRPOJob"
PLURAL = "grpojobs"
SINGULAR = "grpojob"
SHORT_NAMES = ["grpo"]

# Longest GRPOJob name: KubeRay derives child names from a RayJob name and needs <= 47 chars.
MAX_NAME_LENGTH = 47

# Labels on every child object.
LABEL_GRPOJOB = f"{GROUP}/grpojob"  # value: the GRPOJob's name; the PodMonitor relabels it to `grpojob`
LABEL_NAME = "app.kubernetes.io/name"
LABEL_INSTANCE = "app.kubernetes.io/instance"
LABEL_COMPONENT = "app.kubernetes.io/component"
LABEL_MANAGED_BY = "app.kubernetes.io/managed-by"
LABEL_PART_OF = "app.kubernetes.io/part-of"
MANAGED_BY = "grpo-operator"
KUEUE_QUEUE_LABEL = "kueue.x-k8s.io/queue-name"

# Trainer pod layout.
CONFIG_DIR = "/etc/grpo/config"
CONFIG_KEY = "job.json"
REWARD_DIR = "/etc/grpo/reward"
DATA_DIR = "/etc/grpo/data"
OUTPUTS_DIR = "/outputs"
CHECKPOINTS_SUBDIR = "checkpoints"  # seed: models are saved in ./outputs/checkpoints
PVC_DATA_DIR = "/data"

# Ports.
TRAINER_METRICS_PORT = 9400
# Name of the trainer's metrics port in pod specs (the PodMonitor scrapes it by name). Not `metrics`: KubeRay adds
# a port named `metrics` (8080, Ray's own metrics) to every Ray container without one, and KubeRay's head
# PodMonitor scrapes `metrics`; a shared name would mix Ray's metrics and the trainer's.
TRAINER_METRICS_PORT_NAME = "grpo-metrics"
OPERATOR_METRICS_PORT = 8000
OPERATOR_HEALTH_PORT = 8080

# Trainer exit codes (distinct so the operator can give a reason).
EXIT_CONFIG_ERROR = 2
EXIT_DATA_ERROR = 3
EXIT_REWARD_ERROR = 4
EXIT_RAY_RESOURCES = 5
EXIT_TERMINATED = 143

# Trainer image the operator uses when a GRPOJob sets no spec.image.
DEFAULT_TRAINER_IMAGE = "ghcr.io/grpo-operator/trainer:0.1.0"
TRAINER_IMAGE_ENV = "GRPO_TRAINER_IMAGE"  # overrides DEFAULT_TRAINER_IMAGE in the operator's environment

# Models and data sets the trainer builds itself (`model.path: embedded:tiny`, `data.train.path: embedded:parity`);
# trainer_entry.embedded provides exactly these (a test keeps them equal).
EMBEDDED_PREFIX = "embedded:"
EMBEDDED_MODELS = ("tiny",)
EMBEDDED_DATA_SETS = ("math", "parity")

# Environment the operator sets on the trainer pods and a GRPOJob may not (spec.pod.env).
RESERVED_ENV = ("RAY_ADDRESS",)
