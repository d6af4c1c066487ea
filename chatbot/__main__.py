"""``python -m chatbot``."""

from __future__ import annotations

import sys

from chatbot.cli import main

sys.exit(main())
