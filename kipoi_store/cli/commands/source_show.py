"""kipoi source show: every setting of one model source."""

import sys

from kipoi_store.cli import boundary
from kipoi_store.config import schema as configschema
from kipoi_store.cli.commands import json_line, load_config, source_fields
from kipoi_store.git.cli import scrub

SUMMARY = "Show every setting of a model source"


def parser():
    p = boundary.ArgumentParser(prog="kipoi source show", summary=SUMMARY, epilog=(
        "Output: one 'key: value' line per setting, '-' when unset, paths resolved, then the "
        "config file it comes from."))
    p.add_argument("name", help="configured source name")
    p.add_argument("--json", action="store_true", help="one JSON object")
    return p


def _scrubbed(value):
    """`value` with no password or token from a URL (shown as `***`), also inside lists and maps."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: _scrubbed(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_scrubbed(v) for v in value]
    return value


def _text(value):
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def main(argv):
    args = parser().parse_args(argv)
    config = load_config()
    source = config.source(args.name)
    fields = _scrubbed(source_fields(source))
    extra = _scrubbed({k: v for k, v in source.raw.items() if k not in configschema.SOURCE_KEYS})
    fields["config"] = str(config.path)
    fields["config_exists"] = config.exists
    out = sys.stdout
    if args.json:
        json_line(dict(fields, other_settings=extra))
        return 0
    fields["refresh"] = configschema.format_duration(source.refresh)
    for key, value in fields.items():
        if key == "config_exists":
            continue
        if key == "config" and not config.exists:
            value += " (not written yet: kipoi's defaults)"
        out.write("%s: %s\n" % (key, _text(value)))
    for key, value in extra.items():
        out.write("%s: %s\n" % (key, _text(value)))
    return 0
