"""Engine notes in QGIS's words: the engine speaks to the CLI ('pass --sensor WV2 if it is WV2'); the
dock and Processing name their own fields instead ('choose Sensor WV2 if it is WV2')."""

from __future__ import annotations

import re

# CLI option -> the field of the dock and of the Processing algorithms
FIELDS = {"sensor": "Sensor", "bands": "MS band order", "tile": "Tile size", "steps": "Steps", "seed": "Seed",
          "samples": "Samples", "device": "Device", "quality": "Quality", "model": "Model", "float": "Float32 output",
          "clip": "Clip Float32 output"}


def qgis_wording(text: str) -> str:
    """``text`` with 'pass --option [value]' said as the field to choose."""
    def field(match: re.Match) -> str:
        return FIELDS.get(match.group(1), match.group(1))

    text = re.sub(r"\bpass --([a-z]+) to set it", lambda m: f"choose the {field(m)} to set it", text)
    text = re.sub(r"\bpass --([a-z]+) (\S+)", lambda m: f"choose {field(m)} {m.group(2)}", text)
    text = re.sub(r"\bpass --([a-z]+)", lambda m: f"set {field(m)}", text)
    return re.sub(r"(?<![\w-])--([a-z]+)\b", lambda m: field(m) if m.group(1) in FIELDS else m.group(0), text)


def is_warning(note: str) -> bool:
    """An engine note that warns (e.g. a PAN/MS misregistration above the threshold)."""
    return note.startswith("warning:")
