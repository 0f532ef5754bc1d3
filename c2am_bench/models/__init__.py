"""Components registered into mmseg's ``MODELS`` registry: the CAM classifier and its heads,
IRN's boundary network, and DeepLabV2's head and balanced loss.

Importing this package registers them (configs list it in ``custom_imports``).
"""

from . import classifier, deeplabv2, heads, irn  # noqa: F401
