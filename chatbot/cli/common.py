"""What every command shares: quiet libraries, settings from the arguments, one kind of error."""

from __future__ import annotations

import argparse
import os
from pathlib import Path
from typing import Any

from chatbot.config import Settings, load_settings

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2


class UsageError(Exception):
    """Wrong use of the command line (exit code 2)."""


def quiet_libraries() -> None:
    """Never reach for a model hub, never send Gradio analytics, keep progress bars off stdout."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    import logging
    import warnings

    warnings.filterwarnings("ignore", category=FutureWarning)
    logging.getLogger("sentence_transformers").setLevel(logging.ERROR)
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:  # pragma: no cover
        pass


def settings_of(args: argparse.Namespace) -> Settings:
    """The settings, with the folders a command was given (--data, --corpus, --index)."""
    overrides: dict[str, Any] = {}
    for flag, name in (("data", "data_dir"), ("corpus", "corpus_dir"), ("index", "index_dir")):
        if getattr(args, flag, None):
            overrides[name] = Path(getattr(args, flag))
    return load_settings(**overrides)
