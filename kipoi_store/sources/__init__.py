"""Source backends: each turns (model name, ref) into a published directory in the store.

Every backend returns a Resolution; the resolve command only formats it.
"""

from kipoi_store.frozen import Frozen


class Resolution(Frozen):
    """Where a model resolved to (immutable; `r.replace(pinned=...)` gives a changed copy)."""

    __slots__ = (
        "source",     # configured source name
        "model",      # the model name asked for, normalised (e.g. "rbp_eclip/UPF1")
        "location",   # absolute model directory inside the store, as a string (group models: the group dir)
        "key",        # snapshot key: a commit for git sources (git.pointer_key of it where use_lfs: false
                      # keeps pointers: a commit without a root .gitattributes),
                      # "local-<digest>" for local ones
        "commit",     # full commit for git sources, None for local ones
        "ref",        # the ref that was asked for or configured, if any
        "group",      # the model group's directory name, for group models
        "pinned",     # a spec that names exactly these bytes again (commit-pinned), if any
    )
    DEFAULTS = {"commit": None, "ref": None, "group": None, "pinned": None}

    @property
    def directory(self):
        """The model directory as a Path (made on demand: printing needs only the string, and a
        Path per spec is a fifth of a warm batch's time)."""
        from pathlib import Path

        return Path(self.location)

    @property
    def kipoi_path(self):
        """The path to hand to kipoi (`kipoi.get_model(path, source="dir")`): the model directory,
        or for a group model the group directory plus the row (`.../rbp_eclip/UPF1`), which kipoi
        finds by walking up to the group's model-template.yaml."""
        if self.group is None:
            return self.location
        row = self.model[len(self.group):].lstrip("/")
        return self.location + "/" + row

    def as_json(self):
        return {
            "source": self.source,
            "model": self.model,
            "ref": self.ref,
            "commit": self.commit,
            "key": self.key,
            "directory": self.location,
            "kipoi_path": self.kipoi_path,
            "group": self.group,
            "pinned": self.pinned,
        }


def warn_once(warn):
    """`warn` that passes each message on once: a batch resolving 900 rows of one group hears of
    that group's broken table once."""
    if warn is None:
        return lambda message: None
    heard = set()

    def once(message):
        if message not in heard:
            heard.add(message)
            warn(message)

    return once
