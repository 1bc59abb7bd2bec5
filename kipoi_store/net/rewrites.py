"""The config's `url_rewrites:`: one rule set, shared by model-file downloads and git remotes."""


def candidate_urls(url, rewrites=()):
    """Where to look for `url`: each replacement of every matching `url_rewrites` rule (rules in
    config order, mirrors in list order), then `url` itself; no URL twice."""
    out = []
    for prefix, replacements in rewrites or ():
        if url.startswith(prefix):
            for replacement in replacements:
                out.append(replacement + url[len(prefix):])
    out.append(url)
    return list(dict.fromkeys(out))
