"""The endpoint's settings, from the environment variables SageMaker users expect."""

import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from serving.capture import Settings as CaptureSettings
from serving.images import Limits

BASE_DIR_ENV = "SAGEMAKER_BASE_DIR"  # the same variable the training toolkit honours
# Set by `serve` for its workers when they read a copy of the model folder (serving/prepare.py).
MODEL_DIR_ENV = "SERVING_MODEL_DIR"
MULTI_MODEL_ENV = "SAGEMAKER_MULTI_MODEL"  # as SageMaker's multi-model containers read it
MODELS_DIR = "models"  # the multi-model endpoint's archives, under the base folder
DEFAULT_MODELS_MEMORY_MB = 1024
DEFAULT_BASE_DIR = "/opt/ml"
CGROUP_ROOT = Path("/sys/fs/cgroup")
SUPPORTED_ACCEPTS = ("application/json", "text/csv", "application/jsonlines")
# SageMaker's pattern for endpoint and variant names (they name the capture folders).
CAPTURE_NAME = re.compile(r"[a-zA-Z0-9](-*[a-zA-Z0-9]){0,62}")
CAPTURE_OPTIONS = ("input", "output")


class ConfigError(ValueError):
    """A setting that cannot be used, naming the variable."""


@dataclass(frozen=True)
class Config:
    model_dir: Path
    port: int = 8080
    workers: int = 1
    timeout: int = 60
    max_payload_mb: int = 6
    default_accept: str = "application/json"
    socket: str = "/tmp/model-server.sock"
    images: Limits = field(default_factory=Limits)  # image decoding and URL fetching
    capture: CaptureSettings | None = None  # Data Capture; None: off
    multi_model: bool = False  # archives under models_dir, picked per request (multimodel)
    models_dir: Path | None = None
    models_memory_mb: int = DEFAULT_MODELS_MEMORY_MB  # each worker's bound on loaded models

    @property
    def max_payload_bytes(self) -> int:
        return self.max_payload_mb * 1024 * 1024


def cpu_count(cgroup_root: Path = CGROUP_ROOT) -> int:
    """CPUs this container may use: the cgroup quota, not the host's count."""
    available = len(os.sched_getaffinity(0))
    quota = None
    v2 = cgroup_root / "cpu.max"
    v1_quota = cgroup_root / "cpu" / "cpu.cfs_quota_us"
    v1_period = cgroup_root / "cpu" / "cpu.cfs_period_us"
    try:
        if v2.is_file():
            limit, period = v2.read_text().split()[:2]
            if limit != "max":
                quota = int(limit) / int(period)
        elif v1_quota.is_file():
            limit, period = int(v1_quota.read_text()), int(v1_period.read_text())
            if limit > 0:
                quota = limit / period
    except (OSError, ValueError):
        quota = None
    if quota is None:
        return available
    return max(1, min(available, math.ceil(quota)))


def _positive_int(environ: Mapping[str, str], name: str, default: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a whole number") from None
    if value <= 0:
        raise ConfigError(f"{name}={raw!r} must be greater than 0")
    return value


def _flag(environ: Mapping[str, str], name: str) -> bool:
    raw = environ.get(name, "").strip().lower()
    if raw not in ("", "true", "false"):
        raise ConfigError(f"{name}={raw!r} must be true or false")
    return raw == "true"


def _hosts(environ: Mapping[str, str]) -> frozenset:
    """IMAGE_URL_ALLOWED_HOSTS: comma-separated `host` or `host:port`, names compared as given."""
    raw = environ.get("IMAGE_URL_ALLOWED_HOSTS", "")
    hosts = set()
    for entry in (part.strip().lower() for part in raw.split(",")):
        if not entry:
            continue
        host, _, port = entry.partition(":")
        bad_port = port and not (port.isdigit() and 0 < int(port) < 65536)
        if not host or bad_port or any(c in host for c in "/@?#[] ") or ":" in port:
            raise ConfigError(f"IMAGE_URL_ALLOWED_HOSTS entry {entry!r} is not a host name "
                              "or host:port")
        hosts.add(entry)
    return frozenset(hosts)


def _file_root(environ: Mapping[str, str]) -> Path | None:
    raw = environ.get("IMAGE_URL_FILE_ROOT", "").strip()
    if not raw:
        return None
    root = Path(raw)
    if not root.is_absolute() or not root.is_dir():
        raise ConfigError(f"IMAGE_URL_FILE_ROOT={raw!r} is not an absolute path of a folder")
    return root.resolve()


def _seconds(environ: Mapping[str, str], name: str, default: float) -> float:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise ConfigError(f"{name}={raw!r} is not a number of seconds") from None
    if not 0 < value <= 60:
        raise ConfigError(f"{name}={raw!r} must be more than 0 and at most 60 seconds")
    return value


def _content_types(environ: Mapping[str, str], name: str, default: str) -> frozenset:
    raw = environ.get(name, "").strip() or default
    types = frozenset(part.strip().lower() for part in raw.split(",") if part.strip())
    bad = sorted(kind for kind in types if kind.count("/") != 1 or ";" in kind or " " in kind)
    if bad or not types:
        raise ConfigError(f"{name}={raw!r}: {bad[0] if bad else 'empty'} is not a content type "
                          "such as text/csv (comma-separated)")
    return types


def _megabytes(environ: Mapping[str, str], name: str, default: int, least: int) -> int:
    raw = environ.get(name, "").strip()
    if not raw:
        return default
    if not raw.isdigit() or int(raw) < least:
        raise ConfigError(f"{name}={raw!r} must be a whole number of MB, at least {least}")
    return int(raw) * 1024 * 1024


def _capture_name(environ: Mapping[str, str], name: str, default: str) -> str:
    value = environ.get(name, "").strip() or default
    if not CAPTURE_NAME.fullmatch(value):
        raise ConfigError(f"{name}={value!r} is not a SageMaker name (letters, digits and "
                          "hyphens, at most 63, no hyphen first or last)")
    return value


def _capture(environ: Mapping[str, str]) -> CaptureSettings | None:
    """DataCaptureConfig from DATA_CAPTURE_*; None when DATA_CAPTURE_DESTINATION is unset."""
    raw = environ.get("DATA_CAPTURE_DESTINATION", "").strip()
    if not raw:
        return None
    if not raw.startswith("/"):
        raise ConfigError(f"DATA_CAPTURE_DESTINATION={raw!r} is not an absolute path of a folder")
    name = "DATA_CAPTURE_SAMPLING_PERCENTAGE"
    percentage = environ.get(name, "").strip() or str(int(CaptureSettings.sampling_percentage))
    if not (percentage.isdigit() and 0 <= int(percentage) <= 100):
        raise ConfigError(f"{name}={percentage!r} must be a whole number from 0 to 100")
    options = environ.get("DATA_CAPTURE_OPTIONS", "").strip() or "Input,Output"
    chosen = {part.strip().lower() for part in options.split(",") if part.strip()}
    if not chosen or not chosen <= set(CAPTURE_OPTIONS):
        raise ConfigError(f"DATA_CAPTURE_OPTIONS={options!r} must be Input, Output or "
                          "Input,Output")
    return CaptureSettings(
        destination=Path(raw),
        sampling_percentage=float(percentage),
        capture_input="input" in chosen,
        capture_output="output" in chosen,
        json_types=_content_types(environ, "DATA_CAPTURE_JSON_CONTENT_TYPES", "application/json"),
        csv_types=_content_types(environ, "DATA_CAPTURE_CSV_CONTENT_TYPES", "text/csv"),
        endpoint=_capture_name(environ, "DATA_CAPTURE_ENDPOINT_NAME", CaptureSettings.endpoint),
        variant=_capture_name(environ, "DATA_CAPTURE_VARIANT_NAME", CaptureSettings.variant),
        max_record_bytes=_megabytes(environ, "DATA_CAPTURE_MAX_RECORD_MB",
                                    CaptureSettings.max_record_bytes, 1),
        max_total_bytes=_megabytes(environ, "DATA_CAPTURE_MAX_TOTAL_MB",
                                   CaptureSettings.max_total_bytes, 0),
    )


def from_env(environ: Mapping[str, str] | None = None, cgroup_root: Path = CGROUP_ROOT) -> Config:
    """Read the settings; raise ConfigError naming a variable that cannot be used."""
    environ = os.environ if environ is None else environ
    base = Path(environ.get(BASE_DIR_ENV, DEFAULT_BASE_DIR))
    accept = environ.get("SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT", "").strip() or "application/json"
    if accept not in SUPPORTED_ACCEPTS:
        raise ConfigError(
            f"SAGEMAKER_DEFAULT_INVOCATIONS_ACCEPT={accept!r} is not one of "
            + ", ".join(SUPPORTED_ACCEPTS)
        )
    workers = environ.get("SAGEMAKER_MODEL_SERVER_WORKERS", "").strip()
    payload_mb = _positive_int(environ, "SAGEMAKER_MAX_PAYLOAD_IN_MB", 6)
    return Config(
        model_dir=Path(environ.get(MODEL_DIR_ENV) or base / "model"),
        port=_positive_int(environ, "SAGEMAKER_BIND_TO_PORT", 8080),
        workers=_positive_int(environ, "SAGEMAKER_MODEL_SERVER_WORKERS", 1)
        if workers
        else cpu_count(cgroup_root),
        timeout=_positive_int(environ, "SAGEMAKER_MODEL_SERVER_TIMEOUT", 60),
        max_payload_mb=payload_mb,
        default_accept=accept,
        images=Limits(
            max_pixels=_positive_int(environ, "IMAGE_MAX_PIXELS", Limits.max_pixels),
            # Unset: the model's default, tied to its input size (Limits.budget).
            request_pixels=_positive_int(environ, "IMAGE_REQUEST_PIXELS", 0) or None,
            allowed_hosts=_hosts(environ),
            file_root=_file_root(environ),
            timeout=_seconds(environ, "IMAGE_URL_TIMEOUT_SECONDS", Limits.timeout),
            # A fetched image may be as large as a request body could be.
            max_bytes=payload_mb * 1024 * 1024,
        ),
        capture=_capture(environ),
        multi_model=_flag(environ, MULTI_MODEL_ENV),
        models_dir=base / MODELS_DIR,
        models_memory_mb=_positive_int(environ, "MULTI_MODEL_MEMORY_MB",
                                       DEFAULT_MODELS_MEMORY_MB),
    )
