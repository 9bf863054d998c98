"""Kubernetes' own validation rules for the values a GRPOJob passes through to its children.

Small pure functions, written after k8s.io/apimachinery/pkg/util/validation (IsQualifiedName,
IsValidLabelValue, IsDNS1123Subdomain, IsDNS1035Label, IsConfigMapKey, IsEnvVarName), apimachinery's
api/validation (ValidateAnnotations: 256 KiB in total), api/resource (the Quantity grammar) and
k8s.io/kubernetes/pkg/apis/core/validation (IsExtendedResourceName, tolerations, env). grpo_api may not import
the `kubernetes` package (the trainer image lacks it); tests compare these against it and kubernetes-validate.

Each function returns a list of problems (empty: valid), phrased like the API server's.
"""

import re

QUALIFIED_NAME_MAX_LENGTH = 63
LABEL_VALUE_MAX_LENGTH = 63
DNS1123_SUBDOMAIN_MAX_LENGTH = 253
DNS1035_LABEL_MAX_LENGTH = 63
TOTAL_ANNOTATION_SIZE_LIMIT = 256 * 1024  # apimachinery TotalAnnotationSizeLimitB
CONFIGMAP_MAX_BYTES = 1024 * 1024  # core/v1 validation: a ConfigMap's data may hold at most 1 MiB
INT32_MAX = 2**31 - 1
INT64_MAX = 2**63 - 1

_QUALIFIED_NAME_FMT = "([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]"
QUALIFIED_NAME_PART = f"^{_QUALIFIED_NAME_FMT}$"
LABEL_VALUE_PATTERN = f"^({_QUALIFIED_NAME_FMT})?$"
DNS1123_LABEL_FMT = "[a-z0-9]([-a-z0-9]*[a-z0-9])?"
DNS1123_SUBDOMAIN_PATTERN = rf"^{DNS1123_LABEL_FMT}(\.{DNS1123_LABEL_FMT})*$"
DNS1035_LABEL_PATTERN = "^[a-z]([-a-z0-9]*[a-z0-9])?$"
CONFIGMAP_KEY_PATTERN = r"^[-._a-zA-Z0-9]+$"
ENV_VAR_NAME_PATTERN = r"^[-._a-zA-Z][-._a-zA-Z0-9]*$"
# resource.Quantity: <signedNumber><suffix>, suffix a binary SI (Ki..Ei), decimal SI (n u m k M G T P E) or a
# decimal exponent (e3, E-2). The pattern controller-gen emits for Quantity fields, without the sign: a
# resource amount may not be negative (ValidateNonnegativeQuantity).
QUANTITY_PATTERN = (r"^\+?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))"
                    r"(([KMGTPE]i)|[numkMGTPE]|([eE](\+|-)?(([0-9]+(\.[0-9]*)?)|(\.[0-9]+))))?$")


def _limited(value: str, max_length: int, pattern: str, shape: str) -> list[str]:
    """apimachinery's two checks for a name-like value: its length, then its shape (both reported)."""
    errs = []
    if len(value) > max_length:
        errs.append(f"must be no more than {max_length} characters")
    if not re.fullmatch(pattern, value):
        errs.append(shape)
    return errs


def is_dns1123_subdomain(value: str) -> list[str]:
    return _limited(value, DNS1123_SUBDOMAIN_MAX_LENGTH, DNS1123_SUBDOMAIN_PATTERN,
                    "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or "
                    "'.', and must start and end with an alphanumeric character")


def is_dns1035_label(value: str) -> list[str]:
    return _limited(value, DNS1035_LABEL_MAX_LENGTH, DNS1035_LABEL_PATTERN,
                    "a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an "
                    "alphabetic character, and end with an alphanumeric character")


def is_qualified_name(value: str) -> list[str]:
    """`[prefix/]name`: name at most 63 of [-A-Za-z0-9_.] starting and ending alphanumeric; prefix a DNS subdomain."""
    parts = value.split("/")
    if len(parts) == 1:
        name = parts[0]
        errs = []
    elif len(parts) == 2:
        prefix, name = parts
        if not prefix:
            errs = ["prefix part must be non-empty"]
        else:
            errs = [f"prefix part {e}" for e in is_dns1123_subdomain(prefix)]
    else:
        return ["a qualified name must consist of alphanumeric characters, '-', '_' or '.', with an optional DNS "
                "subdomain prefix and '/' (e.g. 'example.com/MyName')"]
    if not name:
        errs.append("name part must be non-empty")
    elif len(name) > QUALIFIED_NAME_MAX_LENGTH:
        errs.append(f"name part must be no more than {QUALIFIED_NAME_MAX_LENGTH} characters")
    if name and not re.fullmatch(QUALIFIED_NAME_PART, name):
        errs.append("name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end "
                    "with an alphanumeric character")
    return errs


def is_label_value(value: str) -> list[str]:
    return _limited(value, LABEL_VALUE_MAX_LENGTH, LABEL_VALUE_PATTERN,
                    "a valid label value must be an empty string or consist of alphanumeric characters, '-', '_' "
                    "or '.', and must start and end with an alphanumeric character")


def validate_labels(labels: dict[str, str]) -> list[str]:
    """ValidateLabels: every key a qualified name, every value a label value (also used for nodeSelector)."""
    errs = []
    for key, value in labels.items():
        errs.extend(f"key {key!r}: {e}" for e in is_qualified_name(key))
        errs.extend(f"value of {key!r} ({value!r}): {e}" for e in is_label_value(value))
    return errs


def validate_annotations(annotations: dict[str, str]) -> list[str]:
    """ValidateAnnotations: keys are qualified names (lower-cased), keys and values together at most 256 KiB."""
    errs = []
    total = 0
    for key, value in annotations.items():
        errs.extend(f"key {key!r}: {e}" for e in is_qualified_name(key.lower()))
        total += len(key.encode()) + len(value.encode())
    if total > TOTAL_ANNOTATION_SIZE_LIMIT:
        errs.append(f"may not be more than {TOTAL_ANNOTATION_SIZE_LIMIT} bytes in total (got {total})")
    return errs


def is_configmap_key(value: str) -> list[str]:
    errs = []
    if len(value) > DNS1123_SUBDOMAIN_MAX_LENGTH:
        errs.append(f"must be no more than {DNS1123_SUBDOMAIN_MAX_LENGTH} characters")
    if not re.fullmatch(CONFIGMAP_KEY_PATTERN, value):
        errs.append("a valid config key must consist of alphanumeric characters, '-', '_' or '.'")
    if value in (".", ".."):
        errs.append(f"must not be '{value}'")
    elif value.startswith(".."):
        errs.append("must not start with '..'")
    return errs


def is_env_var_name(value: str) -> list[str]:
    if not re.fullmatch(ENV_VAR_NAME_PATTERN, value):
        return ["a valid environment variable name must consist of alphabetic characters, digits, '_', '-', or "
                "'.', and must not start with a digit"]
    return []


def is_quantity(value: str) -> list[str]:
    if not re.fullmatch(QUANTITY_PATTERN, value):
        return ["must be a Kubernetes quantity such as 8, 500m, 64Gi, 1.5G or 64e9 (a number with an optional "
                "suffix n u m k M G T P E, Ki Mi Gi Ti Pi Ei or an exponent e<N>)"]
    return []


def is_extended_resource_name(value: str) -> list[str]:
    """IsExtendedResourceName: a qualified name with a domain outside kubernetes.io (e.g. nvidia.com/gpu)."""
    if "/" not in value or "kubernetes.io/" in value:
        return ["must be an extended resource name: a domain-prefixed name outside kubernetes.io, such as "
                "nvidia.com/gpu or amd.com/gpu (not a native resource such as cpu or memory)"]
    errs = is_qualified_name(value)
    if not errs and (quota_errs := is_qualified_name("requests." + value)):
        errs = [f"'requests.{value}' (its quota name) {e}" for e in quota_errs]
    return errs


def has_path_dot_dot(path: str) -> bool:
    """True when a path has a '..' element (it would leave its volume or directory)."""
    return ".." in path.split("/")
