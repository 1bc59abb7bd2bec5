"""Looking after a store: verify, gc, ls (usage), rm, info."""
