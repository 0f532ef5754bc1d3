"""c2am-bench: benchmark Causal CAM (C2AM) against CAM and CAM+Constant."""

__version__ = "0.1.0"
