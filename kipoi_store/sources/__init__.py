"""Source backends: each turns (model name, ref) into a published directory in the store.

Every backend returns a Resolution; the resolve command only formats it.
"""

from dataclasses import dataclass
from pathlib import Path
from typing import Optional


@dataclass(frozen=True)
class Resolution:
    source: str              # configured source name
    model: str               # the model name asked for, normalised (e.g. "rbp_eclip/UPF1")
    directory: Path          # absolute model directory inside the store (group models: the group dir)
    key: str                 # snapshot key: a commit for git sources, "local-<digest>" for local ones
    commit: Optional[str] = None   # full commit for git sources, None for local ones
    ref: Optional[str] = None      # the ref that was asked for or configured, if any
    group: Optional[str] = None    # the model group's directory name, for group models
    pinned: Optional[str] = None   # a spec that names exactly these bytes again (commit-pinned), if any

    def as_json(self):
        return {
            "source": self.source,
            "model": self.model,
            "ref": self.ref,
            "commit": self.commit,
            "key": self.key,
            "directory": str(self.directory),
            "group": self.group,
            "pinned": self.pinned,
        }
