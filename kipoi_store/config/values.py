"""Checking the plain values of a config: how a value is named in messages, unique mapping keys,
durations, url_rewrites and store_mirrors. Each raises a load.Where error naming file and line."""

from kipoi_store.config.schema import parse_duration
from kipoi_store.errors import UsageError


def _describe(value):
    """A value as the user wrote it, for messages: 'abc', 3, true, a list, nothing."""
    if value is None:
        return "nothing"
    if isinstance(value, dict):
        return "a mapping"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str):
        return "'%s'" % value
    return str(value)


def _check_unique(mapping_node, where, keypath):
    """PyYAML keeps the last of two equal keys silently; an edit could then hit the wrong one."""
    from kipoi_store.config.yamledit import _key_value

    seen = {}
    for key, _ in mapping_node.value:
        name = _key_value(key)
        if name in seen:
            raise where.error(key, "%s%s" % (keypath, name),
                              "given twice (first on line %d)" % seen[name])
        seen[name] = key.start_mark.line + 1


def _timeout(value, node, key, where):
    if value is None:
        return None
    try:
        seconds = parse_duration(value)
    except UsageError:
        seconds = 0
    if seconds <= 0:
        raise where.error(node, key, "must be a duration of more than 0 seconds (e.g. 10, 30s, "
                          "2m), found %s" % _describe(value))
    return seconds


def _rewrites(value, node, where):
    if value is None:
        return []
    if not isinstance(value, dict):
        raise where.error(node, "url_rewrites", "must map a URL prefix to a replacement or a "
                          "list of replacements, found %s" % _describe(value))
    _check_unique(node, where, "url_rewrites.")
    rules = []
    # Keys are unique (checked above), so the nodes and the constructed items pair up in order.
    items = list(value.items())
    for index, (key, _) in enumerate(node.value):
        prefix, target = items[index]
        targets = target if isinstance(target, list) else [target]
        if (not isinstance(prefix, str) or not prefix or not targets
                or not all(isinstance(t, str) and t for t in targets)):
            raise where.error(key, "url_rewrites.%s" % (prefix,),
                              "must map a URL prefix to a URL or a list of URLs")
        rules.append((prefix, list(targets)))
    return rules


def _mirrors(value, node, where):
    if value is None:
        return []
    items = value if isinstance(value, list) else [value]
    if not all(isinstance(v, str) and v.strip() for v in items):
        raise where.error(node, "store_mirrors", "must be a list of mirror URLs or paths, found %s"
                          % _describe(value))
    return [v.strip() for v in items]
