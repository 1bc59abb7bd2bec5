"""The command listing of `kipoi --help`: commands grouped by noun with their one-line summaries,
and the closest commands to a mistyped word.

Only the front command uses this, and only when no program matched (dispatch.py imports it then):
reading summaries may run every third-party `kipoi-*` program with `--summary`.
"""


SUMMARY_MARK = b"kipoi-summary:"
SUMMARY_HEAD_BYTES = 1024
SUMMARY_TIMEOUT = 2.0


def display_name(suffix):
    """`source-set-url` -> `source set-url`: how a user types the command (either form works)."""
    noun, _, rest = suffix.partition("-")
    return noun + (" " + rest if rest else "")


# -- groups and suggestions -------------------------------------------------------------------

def _sort_key(suffix):
    # Bytewise, part by part: `source-add` before `source-list`, `store` after every `source-*`.
    return [p.encode() for p in suffix.split("-")]


def under(commands, words):
    """The command suffixes that lie under the group `words` (all of them for no words)."""
    group = "-".join(words)
    return sorted((s for s in commands if not group or s == group or s.startswith(group + "-")),
                  key=_sort_key)


def deepest_group(commands, words):
    """How many leading `words` name a group (a prefix of some command)."""
    k = 0
    while k < len(words) and under(commands, words[:k + 1]):
        k += 1
    return k


def suggestions(commands, words, typed):
    """The commands closest to `typed`, the word that follows the group `words`."""
    import difflib
    options = set()
    for suffix in under(commands, words):
        rest = suffix[len("-".join(words)) + 1:] if words else suffix
        if rest:
            options.add(rest.split("-")[0])
            options.add(rest)
    close = []  # best first; a group and a command inside it are one suggestion, the closer one
    for c in difflib.get_close_matches(typed, sorted(options), n=5, cutoff=0.6):
        if not any(c.startswith(k + "-") or k.startswith(c + "-") for k in close):
            close.append(c)
    return [display_name("-".join(list(words) + [c])) for c in close]


# -- summaries --------------------------------------------------------------------------------

def summary_from_head(head):
    """The text of a `# kipoi-summary: TEXT` line in the first bytes of a program, or None."""
    for line in head[:SUMMARY_HEAD_BYTES].splitlines():
        text = line.strip()
        if text.startswith(b"#") and text[1:].lstrip().startswith(SUMMARY_MARK):
            return _clean(text[1:].lstrip()[len(SUMMARY_MARK):]) or None
    return None


def _clean(raw):
    text = raw.decode("utf-8", "replace")
    text = "".join(c if c.isprintable() else " " for c in text)
    return " ".join(text.split())[:120]


def read_summaries(paths, timeout=SUMMARY_TIMEOUT):
    """{path: summary or None}: the header comment, else the first line of `prog --summary`.

    Programs without the comment run concurrently under one shared deadline, so a slow or hanging
    third-party program delays a listing by `timeout` at most.
    """
    result, ask = {}, []
    for path in paths:
        try:
            with open(path, "rb") as f:
                result[path] = summary_from_head(f.read(SUMMARY_HEAD_BYTES))
        except OSError:
            result[path] = None
        if result[path] is None:
            ask.append(path)
    if ask:
        result.update(_ask_summaries(ask, timeout))
    return result


def _ask_summaries(paths, timeout):
    import subprocess
    import time

    from kipoi_store import procs

    running = {}
    for path in paths:
        try:
            running[path] = procs.spawn([path, "--summary"], stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        except OSError:
            pass
    deadline = time.monotonic() + timeout
    answers = {}
    for path, proc in running.items():
        try:
            out, _ = proc.communicate(timeout=max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            out = b""
        # The whole group either way: a shell script's children must not outlive the listing.
        code = procs.end(proc, grace=0)
        if code == 0 and out.strip():
            answers[path] = _clean(out.strip().splitlines()[0]) or None
    return answers
    proc.communicate()


# -- output -----------------------------------------------------------------------------------

def format_listing(commands, summaries, words=()):
    """The command table: grouped by noun, one line each, summaries aligned."""
    suffixes = under(commands, words)
    width = max((len(display_name(s)) for s in suffixes), default=0)
    lines, noun = [], None
    for suffix in suffixes:
        if noun is not None and suffix.split("-")[0] != noun:
            lines.append("")
        noun = suffix.split("-")[0]
        summary = summaries.get(commands[suffix])
        name = display_name(suffix)
        lines.append(("   %-*s  %s" % (width, name, summary)).rstrip() if summary else "   " + name)
    return "\n".join(lines) + ("\n" if lines else "")

