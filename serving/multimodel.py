"""A multi-model endpoint: model.tar.gz archives under one folder, each loaded on first use.

SageMaker's multi-model endpoints (SAGEMAKER_MULTI_MODEL=true) pick the model of a request by
InvokeEndpoint's TargetModel, which reaches the container as X-Amzn-SageMaker-Target-Model: the
archive's path relative to the models folder. A target is extracted (the one tar extraction,
training.contract.archive) and loaded by the single-model load (serving.app.load), then kept in
an LRU cache whose size is bounded by MULTI_MODEL_MEMORY_MB; the least recently used models are
unloaded, their folders removed, to make room. An archive added to the folder is found on its
first request; one replaced in place (a new modification time) is loaded again.

Each model server worker keeps its own cache (a worker answers one request at a time, so no lock).
"""

import logging
import os
import shutil
import tarfile
import tempfile
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from training.contract import archive

log = logging.getLogger("serving")
TARGET_MODEL = "X-Amzn-SageMaker-Target-Model"
TARGET_MODEL_KEY = "HTTP_X_AMZN_SAGEMAKER_TARGET_MODEL"  # the same header in the WSGI environ
MAX_TARGET_LENGTH = 1024  # InvokeEndpoint's bound on TargetModel
# Checked target paths kept per worker: a bound against clients inventing targets.
MAX_KNOWN_TARGETS = 10_000


class TargetError(Exception):
    """A request's target cannot be served: status and a message naming the target."""

    def __init__(self, status: int, message: str):
        super().__init__(message)
        self.status, self.message = status, message


@dataclass
class Loaded:
    model: object
    size: int  # bytes of the extracted folder: what the memory bound counts
    folder: Path
    mtime_ns: int


def folder_size(folder: Path) -> int:
    # The extracted files stand for the model's memory: the ONNX weights are loaded whole.
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file())


class Models:
    """The LRU cache of loaded models; `loader(folder)` is the single-model load."""

    def __init__(self, root: Path, budget: int, loader, scratch: Path | None = None):
        self.root, self.budget, self.loader = Path(root), budget, loader
        self.scratch = Path(scratch or tempfile.mkdtemp(prefix="models-"))
        self.loaded: OrderedDict[str, Loaded] = OrderedDict()
        self.paths: dict[str, Path] = {}  # targets whose path was checked: parsed once

    def archive_of(self, target: str | None) -> tuple[Path, int]:
        """The target's archive and its modification time (one stat a request: the target's
        path is checked once), or TargetError naming it."""
        path = self.paths.get(target) if target else None
        if path is None:
            path = self.path_of(target)
            if len(self.paths) < MAX_KNOWN_TARGETS:
                self.paths[target] = path
        try:
            status = os.stat(path)
        except OSError:
            status = None
        if status is None or not S_ISREG(status.st_mode):
            raise TargetError(404, f"target model {target!r}: no such archive in the models "
                                   "folder")
        return path, status.st_mtime_ns

    def path_of(self, target: str | None) -> Path:
        """The target's path inside the models folder, or a 400 naming what is wrong."""
        if not target:
            raise TargetError(400, f"a multi-model endpoint needs the {TARGET_MODEL} header "
                                   "(InvokeEndpoint's TargetModel): the archive's path in the "
                                   "models folder, e.g. penguins/3.tar.gz")
        if len(target) > MAX_TARGET_LENGTH:
            raise TargetError(400, f"{TARGET_MODEL} is longer than {MAX_TARGET_LENGTH} "
                                   "characters")
        parts = PurePosixPath(target).parts
        if target.startswith("/") or ".." in parts or "\\" in target:
            raise TargetError(400, f"target model {target!r} is not a relative path inside "
                                   "the models folder")
        return self.root.joinpath(*parts)

    def get(self, target: str | None):
        """The loaded model of `target`, loading it (and evicting others) if need be."""
        path, mtime_ns = self.archive_of(target)
        entry = self.loaded.get(target)
        if entry is not None and entry.mtime_ns == mtime_ns:
            self.loaded.move_to_end(target)
            return entry.model
        if entry is not None:
            self.unload(target)  # replaced in place: the new archive is the model now
        entry = self.load(target, path, mtime_ns)
        self.loaded[target] = entry
        return entry.model

    def load(self, target: str, path: Path, mtime_ns: int) -> Loaded:
        from serving import handlers
        from serving import model as hooks

        folder = Path(tempfile.mkdtemp(prefix="model-", dir=self.scratch))
        try:
            archive.extract(path, folder)
            size = folder_size(folder)
            if size > self.budget:
                raise TargetError(507, f"target model {target!r} takes {size} bytes, more than "
                                       f"the whole cache ({self.budget} bytes, "
                                       "MULTI_MODEL_MEMORY_MB)")
            self.make_room(size)
            model = self.loader(folder)
        except (tarfile.TarError, OSError) as broken:
            shutil.rmtree(folder, ignore_errors=True)
            raise TargetError(424, f"target model {target!r}: cannot extract ({broken})") \
                from None
        except (hooks.ModelError, handlers.HandlerError) as broken:
            shutil.rmtree(folder, ignore_errors=True)
            raise TargetError(424, f"target model {target!r}: cannot load ({broken})") from None
        except BaseException:
            shutil.rmtree(folder, ignore_errors=True)
            raise
        log.info("loaded %s (%d bytes)", target, size)
        return Loaded(model, size, folder, mtime_ns)

    def make_room(self, size: int) -> None:
        while self.loaded and self.used() + size > self.budget:
            self.unload(next(iter(self.loaded)))

    def used(self) -> int:
        return sum(entry.size for entry in self.loaded.values())

    def unload(self, target: str) -> None:
        entry = self.loaded.pop(target)
        shutil.rmtree(entry.folder, ignore_errors=True)
        log.info("unloaded %s", target)

    def close(self) -> None:
        while self.loaded:
            self.unload(next(iter(self.loaded)))
        shutil.rmtree(self.scratch, ignore_errors=True)
