"""Dataset generation, reading and validation (VOC layout)."""
