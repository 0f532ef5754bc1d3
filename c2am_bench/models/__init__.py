"""Components registered into mmseg's ``MODELS`` registry: the CAM classifier, its heads and
IRN's boundary network.

Importing this package registers them (configs list it in ``custom_imports``).
"""

from . import classifier, heads, irn  # noqa: F401
