"""Components registered into mmseg's ``MODELS`` registry: the CAM classifier and its heads.

Importing this package registers them (configs list it in ``custom_imports``).
"""

from . import classifier, heads  # noqa: F401
