"""`python -m kipoi_store ARGS`: the front command, whichever package owns bin/kipoi.

kipoi's own package installs a `kipoi` executable too; whichever was installed last wins. This
entry point always reaches ours (and through it kipoi's commands). Our kipoi-<noun>-<verb>
programs are searched for beside this interpreter first, as bin/kipoi's own directory would be.
"""

import os
import sys

from kipoi_store.cli.dispatch import main

if __name__ == "__main__":
    main([os.path.join(os.path.dirname(sys.executable), "kipoi")] + sys.argv[1:])
